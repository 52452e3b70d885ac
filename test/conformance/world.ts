/**
 * A world is R ranks of one backend, each holding a communicator, that run conformance cases on
 * request. A backend joins the suite by adding a WorldFactory to factories.ts — never a new suite.
 */
import type { Communicator } from '../../src/communicator/communicator.js';
import { serializeError, type SerializedError } from '../../src/communicator/errors.js';
import { CASE_BY_NAME, type CaseFamily } from './all-cases.js';

export interface RankOutcome {
  rank: number;
  ok: boolean;
  error?: SerializedError;
}

export interface WorldOptions {
  /** COLLECTIVE_TIMEOUT_SECS for every rank of the world. */
  timeoutSecs?: number;
}

export interface World {
  readonly size: number;
  /** Runs the named case on every rank at once; resolves when every rank has finished it. */
  run(caseName: string): Promise<RankOutcome[]>;
  /** Stops every rank and releases everything (threads, processes, sockets). */
  close(): Promise<void>;
}

export interface WorldFactory {
  /** The suite's label for it: a backend name, or a backend with a forced setting (`tcp-direct`). */
  readonly backend: string;
  readonly sizes: readonly number[];
  /** The case families it runs (default: every family); its comment says why it skips any. */
  readonly families?: readonly CaseFamily[];
  /**
   * The lifecycle family (lifecycle.test.ts): the `collective run --backend` and the variables that
   * start this factory's ranks (default: `backend`, none), and the sizes (default: `sizes`).
   */
  readonly lifecycle?: {
    readonly backend?: string;
    readonly env?: Readonly<Record<string, string>>;
    readonly sizes?: readonly number[];
  };
  start(size: number, options?: WorldOptions): Promise<World>;
}

/** The timeout worlds use unless a case asks for another: long enough for a loaded 2-core CI box. */
export const WORLD_TIMEOUT_SECS = 30;

/** What a rank host does for one request: run the case with its communicator, report the outcome. */
export async function runCaseOnRank(comm: Communicator, caseName: string): Promise<RankOutcome> {
  const c = CASE_BY_NAME.get(caseName);
  if (!c)
    return { rank: comm.rank, ok: false, error: { name: 'Error', message: `no case named '${caseName}'` } };
  try {
    await c.run(comm);
    return { rank: comm.rank, ok: true };
  } catch (error) {
    return { rank: comm.rank, ok: false, error: serializeError(error) };
  }
}
