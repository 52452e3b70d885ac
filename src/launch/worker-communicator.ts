/**
 * The communicator of one train() worker, opened through init() like any rank's, so that a worker gets
 * the same settings init() would give it (spec/train.md §4.2a). shm joins the group the parent created;
 * tcp rank 0 listens on an ephemeral port that init() reports to the parent, so no two runs can race
 * for a port, and the others connect once the parent relays it.
 */
import type { Communicator } from '../communicator/communicator.js';
import type { ShmGroupHandle } from '../backends/shm/index.js';
import { init } from '../selection/init.js';
import type { WorkerConfig } from './worker-messages.js';

/** How long ranks ≥ 1 retry reaching rank 0, and rank 0 waits for them (a loaded 2-core box is slow to start). */
export const TRAIN_CONNECT_TIMEOUT_SECS = 30;
/** The host rank 0's coordinator listens on: train() keeps every tcp rank on this machine. */
export const TRAIN_TCP_HOST = '127.0.0.1';

/**
 * The variables a worker's init() reads from its environment (the worker's own, i.e. the caller's
 * process.env with options.env on top): choices about the communicator, not facts about the launch.
 * Rank, size, backend and the coordinator come from the run itself; a COLLECTIVE_RANK in the caller's
 * environment must not contradict them, so only these pass.
 */
export const WORKER_SETTING_VARIABLES = [
  'COLLECTIVE_TIMEOUT_SECS',
  'COLLECTIVE_STALL_WARNING_SECS',
  'COLLECTIVE_JOB_ID',
] as const;

export interface WorkerLinks {
  /** tcp ranks ≥ 1: where rank 0 listens, once the parent knows. */
  coordinator(): Promise<{ host: string; port: number }>;
  /** The shm group handle, from workerData. */
  shmGroup: ShmGroupHandle | null;
}

/** The worker's settings out of its environment. */
export function workerSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const name of WORKER_SETTING_VARIABLES) {
    const value = env[name];
    if (value !== undefined) settings[name] = value;
  }
  return settings;
}

export async function openCommunicator(config: WorkerConfig, links: WorkerLinks): Promise<Communicator> {
  const env = workerSettings(process.env);
  if (config.backend === 'shm') {
    if (!links.shmGroup) throw new Error('shm worker started without its group handle');
    return init({ backend: 'shm', group: links.shmGroup, rank: config.rank, env });
  }
  const common = {
    backend: 'tcp',
    rank: config.rank,
    size: config.size,
    connectTimeoutSecs: TRAIN_CONNECT_TIMEOUT_SECS,
    token: config.token,
    env,
  } as const;
  // Rank 0 on port 0: init() sends the parent { kind: 'collective:listening', host, port } over IPC.
  if (config.rank === 0) return init({ ...common, coordinator: TRAIN_TCP_HOST, port: 0 });
  const { host, port } = await links.coordinator();
  return init({ ...common, coordinator: host, port });
}
