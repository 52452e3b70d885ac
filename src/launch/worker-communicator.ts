/**
 * The environment and communicator of one train() worker (spec/train.md §4.2a). A worker's environment
 * carries what `collective run` gives its ranks (backend, rank, size, job, timeouts; on tcp the
 * coordinator and the run's token), and the worker opens its communicator with a plain init(), so
 * that any later init() in the worker — a re-init after close(), or a second init() while the first
 * is open — finds the same group, exactly as under `collective run`. tcp rank 0 listens on port 0 of
 * 127.0.0.1 and init() reports the port it got to the parent, which relays it to the others; a re-init
 * on rank 0 listens on that port again (src/selection/reinit.ts).
 */
import type { Communicator } from '../communicator/communicator.js';
import { formatHostPort } from '../selection/addresses.js';
import { rowOf } from '../selection/backends.js';
import { init } from '../selection/init.js';
import { launcherName } from '../selection/launchers.js';
import { VARIABLES } from '../selection/settings.js';
import type { TrainBackend, WorkerConfig } from './worker-messages.js';

/** How long ranks ≥ 1 retry reaching rank 0, and rank 0 waits for them (a loaded 2-core box is slow to start). */
export const TRAIN_CONNECT_TIMEOUT_SECS = 30;
/** The host rank 0's coordinator listens on: train() keeps every tcp rank on this machine. */
export const TRAIN_TCP_HOST = '127.0.0.1';
/** Rank 0 listens on an ephemeral port and reports it: no two runs can race for a port. */
const EPHEMERAL_PORT = 0;

/**
 * The caller's variables that reach a worker's init() (from the caller's process.env with options.env
 * on top): choices about the communicator, not facts about the launch. Every other variable init()
 * reads is the run's own (rank, size, backend, coordinator, token): a COLLECTIVE_RANK in the caller's
 * environment must not contradict them.
 */
export const WORKER_SETTING_VARIABLES: readonly string[] = [
  VARIABLES.timeoutSecs,
  VARIABLES.stallWarningSecs,
  VARIABLES.connectTimeoutSecs,
  VARIABLES.jobId,
  VARIABLES.algorithm,
];

/**
 * The environment a worker starts with: the caller's, less the variables of init() that describe a
 * launch (COLLECTIVE_* other than the settings, and the markers of a launcher that started the caller —
 * an mpirun rank calling train() is not launching its workers through mpirun), plus the run's facts.
 * The token is not in it: it reaches the worker in its config over IPC (adoptRunFacts).
 */
export function workerEnvironment(
  callerEnv: NodeJS.ProcessEnv,
  run: { backend: TrainBackend; rank: number; size: number },
): NodeJS.ProcessEnv {
  const launchVariables = new Set<string>(Object.values(VARIABLES));
  for (const name of WORKER_SETTING_VARIABLES) launchVariables.delete(name);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(callerEnv)) {
    if (value === undefined || launchVariables.has(name)) continue;
    // A variable that on its own names a launcher is one of its markers (selection/launchers.ts).
    if (launcherName({ [name]: value }) !== undefined) continue;
    env[name] = value;
  }
  env[VARIABLES.backend] = run.backend;
  env[VARIABLES.rank] = String(run.rank);
  env[VARIABLES.size] = String(run.size);
  env[VARIABLES.connectTimeoutSecs] ??= String(TRAIN_CONNECT_TIMEOUT_SECS);
  if (rowOf(run.backend).launch.ranks === 'processes' && run.rank === 0) {
    env[VARIABLES.coordinator] = `${TRAIN_TCP_HOST}:${EPHEMERAL_PORT}`;
  }
  return env;
}

export interface WorkerLinks {
  /** tcp ranks ≥ 1: where rank 0 listens, once the parent knows. */
  coordinator(): Promise<{ host: string; port: number }>;
}

/**
 * tcp: puts what the worker learns over IPC — the run's token, and on ranks ≥ 1 rank 0's address —
 * into its own process.env, where every init() of this worker reads it. The token thus never appears
 * in the environment the process was started with (/proc/<pid>/environ).
 */
async function adoptRunFacts(config: WorkerConfig, links: WorkerLinks): Promise<void> {
  if (rowOf(config.backend).launch.ranks !== 'processes') return;
  process.env[VARIABLES.token] = config.token;
  if (config.rank === 0) return;
  const { host, port } = await links.coordinator();
  // formatHostPort: an IPv6 address goes in brackets, or `::1:33523` would be refused as ambiguous.
  process.env[VARIABLES.coordinator] = formatHostPort(host, port);
}

/**
 * Opens the worker's communicator as any later init() in it would: from its environment alone. The
 * backend's module starts loading first (the row's preload), so that a tcp rank ≥ 1 loads it while it
 * waits for rank 0's address instead of after (spec/train.md §4.9); init() then finds it loaded.
 */
export async function openCommunicator(config: WorkerConfig, links: WorkerLinks): Promise<Communicator> {
  void rowOf(config.backend).preload();
  await adoptRunFacts(config, links);
  return init();
}
