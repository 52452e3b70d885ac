/**
 * The backend registry (spec/selection.md §2): each backend registers a name, an availability check
 * and a factory. A backend's module is imported only inside its factory, i.e. only when selected.
 */
import type { Communicator } from '../communicator/communicator.js';
import { BackendError, STALL_WARNING_CODE } from '../communicator/errors.js';
import type { BackendConfig, LocalConfig, ShmConfig, TcpConfig } from './config.js';
import type { ShmGroupHandle } from '../backends/shm/index.js';
import { ensureResolvable } from './coordinator-lookup.js';
import {
  joinAgain,
  refuseIfStillOpen,
  rememberEphemeralPort,
  rememberOpen,
  withEarlierPort,
} from './reinit.js';
import { tcpStartFailure } from './tcp-failure.js';

export type Availability =
  { readonly available: true } | { readonly available: false; readonly reason: string };

/** What availableBackends() reports about one backend. */
export interface BackendInfo {
  /** The backend's name, as `COLLECTIVE_BACKEND` and `init({ backend })` take it. */
  readonly name: BackendConfig['backend'];
  /** One line on what it is, e.g. "worker threads of one process over SharedArrayBuffer + Atomics". */
  readonly description: string;
  /** Whether it can run in this runtime (spec/selection.md §2). */
  readonly available: boolean;
  /** Why it cannot be used here, when it cannot. */
  readonly reason?: string;
}

/** Hooks a factory may call while the backend starts. */
export interface StartHooks {
  onWarning(code: string, message: string): void;
  /** tcp rank 0 listening on an ephemeral port (port 0): where it listens. */
  onListening?(address: { host: string; port: number }): void;
}

interface Registration<C extends BackendConfig> {
  readonly name: C['backend'];
  readonly description: string;
  availability(): Availability;
  create(config: C, hooks: StartHooks): Promise<Communicator>;
}

/** Imports a backend's module; a module that will not load makes the backend unavailable, not a crash. */
async function load<M>(name: string, importModule: () => Promise<M>): Promise<M> {
  try {
    return await importModule();
  } catch (error) {
    throw new BackendError(
      'BackendNotAvailable',
      `the ${name} backend's module could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
      { backend: name },
      'reinstall collective (npm ci) or pick another backend with COLLECTIVE_BACKEND',
    );
  }
}

const local: Registration<LocalConfig> = {
  name: 'local',
  description: 'one rank in this process; identity semantics',
  availability: () => ({ available: true }),
  async create() {
    const { createLocalCommunicator } = await import('../backends/local/index.js');
    return createLocalCommunicator();
  },
};

const shm: Registration<ShmConfig> = {
  name: 'shm',
  description: 'worker threads of one process over SharedArrayBuffer + Atomics',
  availability: () =>
    typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object'
      ? { available: true }
      : { available: false, reason: 'SharedArrayBuffer or Atomics is missing in this runtime' },
  async create(config) {
    const { connectShm } = await load('shm', () => import('../backends/shm/index.js'));
    // The handle came from workerData or the caller unchecked; connectShm validates it. A rank that
    // closed joins the group's next generation (init() after close(), §5.4).
    return connectShm({
      group: config.group as ShmGroupHandle,
      rank: config.rank,
      timeoutSecs: config.timeoutSecs,
      stallWarningSecs: config.stallWarningSecs,
    });
  },
};

const tcp: Registration<TcpConfig> = {
  name: 'tcp',
  description: 'processes on one or many machines; rank 0 coordinates a star of TCP connections',
  availability: () => ({ available: true }),
  async create(selected, hooks) {
    const { connectTcp } = await load('tcp', () => import('../backends/tcp/index.js'));
    // A re-init listens on the port rank 0 got the first time: the launcher relayed that one (§5.4).
    const config = withEarlierPort(selected);
    // A second init() while the first communicator of this group is open (§5.4): refused, not a port clash.
    refuseIfStillOpen(config);
    let listenedOn = config.port;
    try {
      // Rank 0 binds (a bad name fails its listen at once); the others would retry a bad name.
      if (config.rank !== 0) await ensureResolvable(config.host, config.connectTimeoutSecs);
      const comm = await joinAgain(config, () =>
        connectTcp({
          rank: config.rank,
          size: config.size,
          host: config.host,
          port: config.port,
          ...(config.bindAddr !== undefined ? { bindAddr: config.bindAddr } : {}),
          ...(config.token !== undefined ? { token: config.token } : {}),
          ...(config.allowInsecure !== undefined ? { allowInsecure: config.allowInsecure } : {}),
          timeoutSecs: config.timeoutSecs,
          stallWarningSecs: config.stallWarningSecs,
          ...(config.jobId !== undefined ? { jobId: config.jobId } : {}),
          connectTimeoutSecs: config.connectTimeoutSecs,
          onWarning: (message) => hooks.onWarning('COLLECTIVE_TCP', message),
          onStallWarning: (message) => hooks.onWarning(STALL_WARNING_CODE, message),
          ...(config.port === 0
            ? {
                onListening: (address: { host: string; port: number }) => {
                  rememberEphemeralPort(config, address.port);
                  listenedOn = address.port;
                  hooks.onListening?.(address);
                },
              }
            : {}),
        }),
      );
      rememberOpen(config, comm, listenedOn);
      return comm;
    } catch (error) {
      throw tcpStartFailure(error, config);
    }
  },
};

const REGISTRY: {
  readonly [K in BackendConfig['backend']]: Registration<Extract<BackendConfig, { backend: K }>>;
} = { local, shm, tcp };

export const BACKEND_NAMES = Object.keys(REGISTRY) as ReadonlyArray<BackendConfig['backend']>;

export function availabilityOf(name: BackendConfig['backend']): Availability {
  return REGISTRY[name].availability();
}

/**
 * Every registered backend (`local`, `shm`, `tcp`), whether it can run in this runtime, and why not
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
    const { description } = REGISTRY[name];
    return availability.available
      ? { name, description, available: true }
      : { name, description, available: false, reason: availability.reason };
  });
}

/** Starts the selected backend: its module is imported here, and only here. */
export function createBackend(config: BackendConfig, hooks: StartHooks): Promise<Communicator> {
  switch (config.backend) {
    case 'local':
      return REGISTRY.local.create(config, hooks);
    case 'shm':
      return REGISTRY.shm.create(config, hooks);
    case 'tcp':
      return REGISTRY.tcp.create(config, hooks);
  }
}
