/**
 * split() and dup() (spec/communicator.md §11.1–§11.3): a collective of the parent in which every
 * rank gives its color, its key and its next free context id, in one allgatherv of the parent's
 * backend. Every rank then computes the same result from the same table: the members of each color
 * ordered by (key, parent rank), and the new context id, the largest proposal (context-ids.ts).
 */
import type { Backend, Communicator } from '../communicator.js';
import { CommError } from '../errors.js';
import { fingerprint, type Fingerprint } from '../fingerprint.js';
import type { MessageGroup } from '../messages/layer.js';
import { MAX_CONTEXT, reserveContext } from './context-ids.js';
import { GroupBackend } from './group-backend.js';

/** What split() or dup() was asked for on this rank. */
export interface SplitRequest {
  readonly operation: 'split' | 'dup';
  /** A non-negative safe integer, or null/undefined for "not a member" (MPI_UNDEFINED). */
  readonly color: unknown;
  /** A safe integer (negative allowed): the order of this rank in its new communicator. */
  readonly key: unknown;
}

/** Builds the front end of a derived communicator (CheckedCommunicator, passed in: no import cycle). */
export type DerivedFactory = (backend: Backend, group: MessageGroup) => Communicator;

/** Float64 words per rank in the exchange: color, key, proposed context id. */
const WORDS = 3;
/** The color that stands for "not a member" in the exchange. */
const NO_COLOR = -1;

/**
 * Runs split/dup on the parent (inside its collective queue). Resolves with the new communicator,
 * or null on a rank whose color was null/undefined. A bad color or key on any rank rejects on every
 * rank with InvalidArgument (`details.invalidRanks` on the others).
 */
export async function splitNow(
  parent: Backend,
  parentGroup: MessageGroup,
  request: SplitRequest,
  make: DerivedFactory,
): Promise<Communicator | null> {
  const { operation } = request;
  let invalid: CommError | null = null;
  let color = NO_COLOR;
  let key = 0;
  try {
    color = checkColor(operation, request.color);
    key = checkKey(operation, request.key);
  } catch (error) {
    invalid = error as CommError;
  }
  const reservation = await reserveContext(parentGroup.layer);
  const size = parent.size;
  const table = new Float64Array(WORDS * size);
  const fp: Fingerprint = fingerprint(operation, {
    dtype: 'float64',
    count: WORDS * size,
    invalid: invalid?.code ?? null,
  });
  try {
    await parent.allgatherv(
      fp,
      Float64Array.of(color, key, reservation.proposal),
      table,
      new Array<number>(size).fill(WORDS),
      Array.from({ length: size }, (_, r) => WORDS * r),
    );
  } catch (error) {
    reservation.settle(null);
    throw invalid ?? error;
  }
  if (invalid !== null) {
    // Only reachable at size 1 (alone, nobody compares): raise this rank's own error.
    reservation.settle(null);
    throw invalid;
  }
  let agreed = 0;
  for (let r = 0; r < size; r++) agreed = Math.max(agreed, table[WORDS * r + 2] as number);
  if (agreed > MAX_CONTEXT) {
    reservation.settle(null);
    throw new CommError(
      'CollectiveFailed',
      operation,
      `this world has used every context id (next free id ${agreed} > ${MAX_CONTEXT}); ids of closed communicators are not reused. Call init() again on every rank to start a new world.`,
      { nextContext: agreed },
    );
  }
  reservation.settle(agreed);
  if (color === NO_COLOR) return null;
  const ranks: number[] = [];
  for (let r = 0; r < size; r++) if (table[WORDS * r] === color) ranks.push(r);
  // MPI_Comm_split: ordered by key, ties by rank in the parent.
  ranks.sort((a, b) => (table[WORDS * a + 1] as number) - (table[WORDS * b + 1] as number) || a - b);
  const members = ranks.map((r) => parentGroup.members[r] as number);
  const group: MessageGroup = { layer: parentGroup.layer, context: agreed, members };
  const backend = new GroupBackend({
    group,
    rank: ranks.indexOf(parent.rank),
    name: parent.name,
    origin: operation === 'dup' ? 'dup()' : `split(color ${color})`,
  });
  return make(backend, group);
}

function checkColor(operation: string, color: unknown): number {
  if (color === null || color === undefined) return NO_COLOR;
  if (typeof color !== 'number' || !Number.isSafeInteger(color) || color < 0) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `color must be a non-negative safe integer, or null/undefined to take no part in the new communicators; got ${describe(color)}.`,
      { argument: 'color', received: describe(color) },
    );
  }
  return color;
}

function checkKey(operation: string, key: unknown): number {
  if (typeof key !== 'number' || !Number.isSafeInteger(key)) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `key must be a safe integer (it orders the ranks of the new communicator; default: this rank); got ${describe(key)}.`,
      { argument: 'key', received: describe(key) },
    );
  }
  return key;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `the string '${value}'` : `${typeof value} ${String(value)}`;
}
