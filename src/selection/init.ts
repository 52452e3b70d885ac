/**
 * init(): the one entry point that turns options and the environment into a Communicator
 * (spec/selection.md). The environment and workerData are read here, once, and resolved by the
 * priority chain into a typed config; the selected backend's module is loaded only then.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, workerData } from 'node:worker_threads';
import type { Communicator } from '../communicator/communicator.js';
import { resolveSelection, type SelectionInputs } from './chain.js';
import type { InitOptions } from './options.js';
import { createBackend } from './registry.js';
import { readShmMembership } from './shm-group.js';
import { incompatible } from './values.js';
import { emitWarningOnce, oversubscriptionWarning, WARNING_TYPE } from './warnings.js';

export type { BackendChoice, InitOptions } from './options.js';

/**
 * The IPC message rank 0 sends its launcher when it listens on an ephemeral port (port 0), so the
 * launcher can hand the real port to the other ranks: no "find a free port, then bind it" window.
 */
export const LISTENING_MESSAGE_KIND = 'collective:listening';

export interface ListeningMessage {
  kind: typeof LISTENING_MESSAGE_KIND;
  host: string;
  port: number;
}

function reportListening(address: { host: string; port: number }): void {
  const message: ListeningMessage = { kind: LISTENING_MESSAGE_KIND, ...address };
  process.send?.(message);
}

/** What the chain reads in this thread: the options, the environment record, workerData. */
export function selectionInputs(options: InitOptions): SelectionInputs {
  if (options === null || typeof options !== 'object') {
    throw incompatible('options', options, 'an object such as { backend, rank, size } (or nothing)');
  }
  return { options, env: options.env ?? process.env, workerData, isMainThread };
}

function launcherWarned(inputs: SelectionInputs): boolean {
  return readShmMembership(inputs.options, inputs.workerData)?.launcherWarned === true;
}

export async function init(options: InitOptions = {}): Promise<Communicator> {
  const inputs = selectionInputs(options);
  const resolution = resolveSelection(inputs);
  for (const warning of resolution.warnings) emitWarningOnce(warning);
  const comm = await createBackend(resolution.config, {
    // Start-up and slow-rank warnings describe events (they carry a sequence number): emitted each time.
    onWarning: (code, message) => process.emitWarning(message, { type: WARNING_TYPE, code }),
    onListening: reportListening,
  });
  // Every rank of a shm group lives in this process; rank 0 speaks for the group, unless the launcher
  // that started the group (train(), collective run) has spoken already: one warning per launch.
  const cores = availableParallelism();
  if (comm.backend === 'shm' && comm.rank === 0 && comm.size > cores && !launcherWarned(inputs)) {
    emitWarningOnce(oversubscriptionWarning(comm.size, cores, 'shm'));
  }
  return comm;
}
