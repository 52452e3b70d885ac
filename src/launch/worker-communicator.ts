/**
 * The communicator of one train() worker. shm joins the group the parent created (through init(),
 * which owns group membership); tcp connects directly, rank 0 on an ephemeral port that it reports to
 * the parent, so that no two runs can race for a port.
 */
import type { Communicator } from '../communicator/communicator.js';
import type { ShmGroupHandle } from '../backends/shm/index.js';
import { init } from '../selection/init.js';
import type { WorkerConfig } from './worker-messages.js';

/** How long ranks ≥ 1 retry reaching rank 0, and rank 0 waits for them (a loaded 2-core box is slow to start). */
export const TRAIN_CONNECT_TIMEOUT_SECS = 30;
/** The host rank 0's coordinator listens on: train() keeps every tcp rank on this machine. */
export const TRAIN_TCP_HOST = '127.0.0.1';

export interface WorkerLinks {
  /** tcp rank 0: tell the parent where the coordinator listens. */
  reportListening(host: string, port: number): void;
  /** tcp ranks ≥ 1: where rank 0 listens, once the parent knows. */
  coordinator(): Promise<{ host: string; port: number }>;
  /** The shm group handle, from workerData. */
  shmGroup: ShmGroupHandle | null;
}

export async function openCommunicator(config: WorkerConfig, links: WorkerLinks): Promise<Communicator> {
  if (config.backend === 'shm') {
    if (!links.shmGroup) throw new Error('shm worker started without its group handle');
    // env: {} — the group and rank say everything; the parent's COLLECTIVE_* variables must not.
    return init({
      backend: 'shm',
      group: links.shmGroup,
      rank: config.rank,
      timeoutSecs: config.timeoutSecs,
      env: {},
    });
  }
  // Loaded only here: an shm worker never loads the tcp backend.
  const { connectTcp } = await import('../backends/tcp/index.js');
  const common = {
    rank: config.rank,
    size: config.size,
    timeoutSecs: config.timeoutSecs,
    connectTimeoutSecs: TRAIN_CONNECT_TIMEOUT_SECS,
    token: config.token,
  };
  if (config.rank === 0) {
    return connectTcp({
      ...common,
      host: TRAIN_TCP_HOST,
      port: 0,
      onListening: ({ host, port }) => links.reportListening(host, port),
    });
  }
  const { host, port } = await links.coordinator();
  return connectTcp({ ...common, host, port });
}
