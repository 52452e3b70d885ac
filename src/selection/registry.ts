/**
 * The public face of the backend table (spec/selection.md §2): availableBackends() lists every row and
 * whether it can run here; createBackend() starts the selected one. The rows themselves are in
 * backends.ts.
 */
import type { Communicator, KnownBackendName } from '../communicator/communicator.js';
import type { Availability, StartHooks } from './backend-start.js';
import { BACKEND_NAMES, rowOf, type BackendConfig, type TableName } from './backends.js';

export type { Availability, StartHooks } from './backend-start.js';

/** What availableBackends() reports about one backend. */
export interface BackendInfo {
  /** The backend's name, as `COLLECTIVE_BACKEND` and `init({ backend })` take it. */
  readonly name: KnownBackendName;
  /** One line on what it is, e.g. "worker threads of one process over SharedArrayBuffer + Atomics". */
  readonly description: string;
  /** Whether it can run in this runtime (spec/selection.md §2). */
  readonly available: boolean;
  /** Why it cannot be used here, when it cannot. */
  readonly reason?: string;
}

export function availabilityOf(name: TableName): Availability {
  return rowOf(name).availability();
}

/**
 * Every registered backend (`local`, `shm`, `tcp`, `ws`, `mpi`), whether it can run in this runtime, and why not
 * (spec/selection.md §2). Loads no backend module and starts nothing.
 *
 * @returns one {@link BackendInfo} per backend, in registry order.
 * @example
 * ```ts
 * import { availableBackends } from 'collective';
 *
 * for (const b of availableBackends()) console.log(b.name, b.available ? 'yes' : b.reason);
 * ```
 */
export function availableBackends(): BackendInfo[] {
  return BACKEND_NAMES.map((name) => {
    const availability = availabilityOf(name);
    const { description } = rowOf(name);
    return availability.available
      ? { name, description, available: true }
      : { name, description, available: false, reason: availability.reason };
  });
}

/** Starts the selected backend: its module is imported here, and only here. */
export function createBackend(config: BackendConfig, hooks: StartHooks): Promise<Communicator> {
  return (rowOf(config.backend) as { start(c: BackendConfig, h: StartHooks): Promise<Communicator> }).start(
    config,
    hooks,
  );
}
