/**
 * init(): the one entry point that turns options and the environment into a Communicator.
 * The full priority chain lives in spec/selection.md; this module reads the environment once.
 */
import type { Communicator } from '../communicator/communicator.js';
import { BackendError } from '../communicator/errors.js';
import { createLocalCommunicator } from '../backends/local/index.js';

export type BackendChoice = 'auto' | 'local' | 'shm' | 'tcp';

export interface InitOptions {
  /** Overrides COLLECTIVE_BACKEND. */
  backend?: BackendChoice;
  /** Overrides COLLECTIVE_TIMEOUT_SECS (default 60). */
  timeoutSecs?: number;
  /** The environment to read instead of process.env (tests, embedding). */
  env?: Record<string, string | undefined>;
}

export async function init(options: InitOptions = {}): Promise<Communicator> {
  const env = options.env ?? process.env;
  const backend = options.backend ?? env['COLLECTIVE_BACKEND'] ?? 'auto';
  if (backend === 'auto' || backend === 'local') return createLocalCommunicator();
  throw new BackendError(
    'InvalidBackend',
    `unknown backend '${backend}'`,
    { backend, available: ['local'] },
    "set COLLECTIVE_BACKEND to 'auto' or 'local'",
  );
}
