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
import { rowOf } from './backends.js';
import { createBackend } from './registry.js';
import { mpiAvailability } from './mpi-config.js';
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
  return { options, env: options.env ?? process.env, workerData, isMainThread, mpiAddon: mpiAvailability };
}

function launcherWarned(inputs: SelectionInputs): boolean {
  return readShmMembership(inputs.options, inputs.workerData)?.launcherWarned === true;
}

/**
 * Creates this rank's {@link Communicator}: the one entry point of a rank program
 * (spec/selection.md). Reads the options, then the environment (`COLLECTIVE_*` variables and those
 * of Open MPI, MPICH/Intel MPI, Slurm or torchrun-style launchers) and this thread's `workerData`,
 * and picks a backend by the priority chain (§5): `tcp` when a coordinator is named or a
 * multi-rank launch is on one node, `shm` inside a `collective run`/`train()` thread group,
 * `local` for a single rank. Every rank of the job calls it; it resolves when this rank has joined
 * (on tcp: when the group has formed, within the connect timeout, default 30 s). Options override
 * their environment variables.
 *
 * Call it again after `close()` to rejoin the same group (§5.4); while this process's
 * communicator of the group is still open, a second call is refused (`IncompatibleSettings`).
 *
 * @param options - overrides of the environment; see {@link InitOptions}. Default: none, read
 *   everything from the environment.
 * @returns an open communicator; `backend`, `rank` and `size` say what was chosen.
 * @throws {@link BackendError} (every kind names the setting to fix):
 *   `InvalidBackend` (unknown backend name), `BackendNotAvailable`, `MissingConfiguration` (e.g.
 *   size > 1 with no coordinator: names `COLLECTIVE_TCP_COORDINATOR` and the launcher's way to set
 *   it), `IncompatibleSettings` (a malformed value, two sources that disagree, `shm` outside a
 *   group, `local` with size > 1, init() again while open), `InitializationFailed` (the tcp group
 *   did not form: unreachable coordinator, port in use, name that does not resolve, refused
 *   handshake; an aborted shm group). A shm re-join can also reject with {@link CommError}
 *   `CollectiveFailed` (operation `init`) when a rank of the group is gone.
 * @example
 * ```ts
 * import { init } from 'collective';
 *
 * // npx collective run -n 4 app.ts   (or mpirun, srun, torchrun-style variables, or by hand)
 * const comm = await init();
 * console.log(`rank ${comm.rank} of ${comm.size} on ${comm.backend}`);
 * // Explicit settings, e.g. rank 1 of 2 processes on two machines:
 * const tcp = await init({ backend: 'tcp', rank: 1, size: 2, coordinator: 'node0:29500', token: secret });
 * ```
 */
export async function init(options: InitOptions = {}): Promise<Communicator> {
  const inputs = selectionInputs(options);
  const resolution = resolveSelection(inputs);
  for (const warning of resolution.warnings) emitWarningOnce(warning);
  const comm = await createBackend(resolution.config, {
    // Start-up and slow-rank warnings describe events (they carry a sequence number): emitted each time.
    onWarning: (code, message) => process.emitWarning(message, { type: WARNING_TYPE, code }),
    onListening: reportListening,
  });
  // Every rank of a thread group (shm) lives in this process; rank 0 speaks for the group, unless the
  // launcher that started the group (train(), collective run) has spoken already: one warning per launch.
  const cores = availableParallelism();
  const { backend } = resolution.config;
  if (
    rowOf(backend).launch.ranks === 'threads' &&
    comm.rank === 0 &&
    comm.size > cores &&
    !launcherWarned(inputs)
  ) {
    emitWarningOnce(oversubscriptionWarning(comm.size, cores, backend));
  }
  return comm;
}
