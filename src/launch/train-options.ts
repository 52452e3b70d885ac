/**
 * train()'s options, checked before anything starts (spec/train.md §3): every mistake is a
 * BackendError 'IncompatibleSettings' that names the option and what to pass instead — but for an
 * unknown backend name, which is 'InvalidBackend' as at every other entry point.
 */
import { randomUUID } from 'node:crypto';
import { BackendError } from '../communicator/errors.js';
import type { Communicator } from '../communicator/communicator.js';
import {
  BACKEND_TABLE,
  launcherBackend,
  parseBackendChoice,
  rowOf,
  type BackendChoice,
  type TableName,
} from '../selection/index.js';
import { readTimeouts } from '../selection/settings.js';
import { moduleFileExists, toModuleUrl } from './module-loading.js';
import { loadWorkerFunction } from './worker-function.js';

/** The job identity every rank of one run shares (read by init(); spec/selection.md). */
export const JOB_ID_VARIABLE = 'COLLECTIVE_JOB_ID';

/**
 * How {@link train} runs its workers (spec/train.md §2): `'auto'` (tcp when
 * `COLLECTIVE_TCP_COORDINATOR` is set, else shm), `'shm'` (worker threads), `'tcp'` (child
 * processes), `'local'` (one worker only).
 */
export type TrainBackendChoice = BackendChoice;

/**
 * What a worker's function receives besides its communicator (spec/train.md §2).
 *
 * @typeParam A - the type of `args`.
 */
export interface TrainContext<A = unknown> {
  /** options.args, structured-cloned into the worker. */
  readonly args: A;
  /**
   * Sends an event to the parent's onProgress as { workerId: rank, ...event }; events keep their order.
   *
   * @param event - structured-cloneable fields; throws at once when it cannot be cloned.
   */
  progress(event: Record<string, unknown>): void;
  /** Aborts when the run is being stopped (another worker failed, timeout, the caller's signal). */
  readonly signal: AbortSignal;
}

/**
 * The default export of a worker module: runs on every rank with its communicator and context;
 * rank 0's return value (structured-cloned) is what {@link train} resolves with.
 *
 * @typeParam A - the type of `ctx.args`.
 * @typeParam R - the result type.
 * @param comm - this worker's communicator (closed for you after the function returns).
 * @param ctx - `args`, `progress` and the stop `signal`.
 * @returns the result; rank 0's is train()'s, the others' are discarded.
 */
export type WorkerFunction<A = unknown, R = unknown> = (
  comm: Communicator,
  ctx: TrainContext<A>,
) => Promise<R> | R;

/** What {@link TrainOptions.onProgress} receives: the worker's event with its rank added. */
export interface ProgressEvent {
  /** The rank of the worker that sent the event. */
  workerId: number;
  /** The fields of the event the worker passed to `ctx.progress`. */
  [key: string]: unknown;
}

/**
 * The options of {@link train} (spec/train.md §2), all optional. Each is checked before anything
 * starts; a wrong one is a {@link BackendError} `IncompatibleSettings` naming it.
 *
 * @typeParam A - the type of `args`.
 */
export interface TrainOptions<A = unknown> {
  /** How many workers (ranks); default 1, which runs in this thread on the local backend. */
  numWorkers?: number;
  /** 'auto' (default): tcp when COLLECTIVE_TCP_COORDINATOR is set, else shm. */
  backend?: TrainBackendChoice;
  /** Passed to every worker as ctx.args (structured clone). */
  args?: A;
  /**
   * Called in the calling thread for every `ctx.progress(event)` of a worker, as
   * `{ ...event, workerId }`; one worker's events arrive in the order it sent them. A throw stops
   * the run and train() rejects with it.
   *
   * @param event - the worker's event with `workerId` (its rank) added.
   */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Stops every worker and rejects with CommError 'Timeout' after this many milliseconds (> 0;
   * `details: { timeoutMs, missing }`, the ranks that had not finished). Default: no limit.
   */
  timeoutMs?: number;
  /** Stops every worker and rejects with signal.reason when aborted. */
  signal?: AbortSignal;
  /** Variables added to the workers' environment (on top of this process's); `undefined` removes one. */
  env?: Record<string, string | undefined>;
}

export interface TrainPlan {
  moduleUrl: URL;
  numWorkers: number;
  /** A row of the backend table; `one`-rank rows only with numWorkers 1. */
  backend: TableName;
  args: unknown;
  onProgress: ((event: ProgressEvent) => void) | null;
  timeoutMs: number | null;
  signal: AbortSignal | null;
  env: NodeJS.ProcessEnv;
  /** The default export, loaded here to check it (and used directly when numWorkers is 1). */
  workerFunction: WorkerFunction;
}

/** numWorkers 1: the one worker runs in the calling thread (spec/train.md §2), on the table's one-rank row. */
const ONE_WORKER_BACKEND: TableName = BACKEND_TABLE.find((row) => row.launch.ranks === 'one')!.name;

function incompatible(message: string, context: Record<string, unknown>, suggestion: string): BackendError {
  return new BackendError('IncompatibleSettings', `train(): ${message}`, context, suggestion);
}

export async function planTraining(workerModule: unknown, options: unknown): Promise<TrainPlan> {
  if (options === null || typeof options !== 'object') {
    throw incompatible(
      'options must be an object',
      { options },
      'pass { numWorkers, backend, … } or nothing',
    );
  }
  const o = options as TrainOptions;
  const numWorkers = o.numWorkers ?? 1;
  if (typeof numWorkers !== 'number' || !Number.isInteger(numWorkers) || numWorkers < 1) {
    throw incompatible(
      `numWorkers must be an integer >= 1, got ${String(numWorkers)}`,
      { numWorkers },
      'pass numWorkers: 1 or more',
    );
  }
  const choice = o.backend === undefined ? 'auto' : parseBackendChoice('options.backend', o.backend);
  if (o.timeoutMs !== undefined && !(typeof o.timeoutMs === 'number' && o.timeoutMs > 0)) {
    throw incompatible(
      `timeoutMs must be a positive number, got ${String(o.timeoutMs)}`,
      { timeoutMs: o.timeoutMs },
      'pass a number of milliseconds, or omit it',
    );
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw incompatible('onProgress must be a function', {}, 'pass (event) => { … }, or omit it');
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw incompatible('signal must be an AbortSignal', {}, 'pass controller.signal, or omit it');
  }
  if (o.env !== undefined && (o.env === null || typeof o.env !== 'object')) {
    throw incompatible('env must be an object of strings', {}, 'pass { NAME: "value" }, or omit it');
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  // `undefined` removes a variable (a thread's env would otherwise hold the string 'undefined').
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  // The workers' init() reads COLLECTIVE_TIMEOUT_SECS (and the other settings of WORKER_SETTING_VARIABLES)
  // from this environment; a malformed value is refused here, before anything starts.
  readTimeouts({}, env);
  // Every run is a job of its own (spec/train.md §4.2b): a rank of another run on this node is refused.
  env[JOB_ID_VARIABLE] ??= randomUUID();
  const moduleUrl = resolveWorkerModule(workerModule);
  const workerFunction = await loadWorkerFunction(moduleUrl);
  let backend: TrainPlan['backend'];
  if (numWorkers === 1) backend = ONE_WORKER_BACKEND;
  else if (choice === 'auto') backend = launcherBackend(env);
  else if (rowOf(choice).launch.ranks === 'one' || rowOf(choice).launch.ranks === 'mpirun') {
    const many = BACKEND_TABLE.filter((row) => ['threads', 'processes'].includes(row.launch.ranks)).map(
      (row) => `'${row.name}'`,
    );
    const why = rowOf(choice).launch.ranks === 'one' ? 'has one rank' : 'has its ranks started by mpirun';
    throw incompatible(
      `the ${choice} backend ${why}, but numWorkers is ${numWorkers}`,
      { numWorkers, backend: choice },
      `use backend ${many.join(' or ')} (or 'auto') for more than one worker`,
    );
  } else backend = choice;
  return {
    moduleUrl,
    numWorkers,
    backend,
    args: o.args,
    onProgress: o.onProgress ?? null,
    timeoutMs: o.timeoutMs ?? null,
    signal: o.signal ?? null,
    env,
    workerFunction,
  };
}

function resolveWorkerModule(workerModule: unknown): URL {
  if (typeof workerModule !== 'string' && !(workerModule instanceof URL)) {
    throw incompatible(
      'workerModule must be a path or a URL',
      { workerModule: String(workerModule) },
      "pass e.g. './worker.ts' or new URL('./worker.js', import.meta.url)",
    );
  }
  let url: URL;
  try {
    url = toModuleUrl(workerModule);
  } catch {
    throw incompatible(
      `'${String(workerModule)}' is not a valid URL`,
      { workerModule: String(workerModule) },
      'pass a file path or a file: URL',
    );
  }
  if (!moduleFileExists(url)) {
    throw incompatible(
      `worker module ${url.href} does not exist`,
      { workerModule: String(workerModule), resolved: url.href },
      'check the path (relative paths are resolved against the current directory)',
    );
  }
  return url;
}
