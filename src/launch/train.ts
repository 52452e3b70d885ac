/**
 * train(workerModule, options): run a worker module's default export on numWorkers ranks and return
 * rank 0's result (spec/train.md). One worker runs in this thread on the local backend; more run as
 * fresh worker threads (shm) or child processes (tcp), supervised by TrainRun.
 */
import { randomBytes } from 'node:crypto';
import { SHM_WORKER_DATA_KEY, createShmGroup } from '../backends/shm/index.js';
import { createLocalCommunicator } from '../backends/local/index.js';
import { CommError, WorkerError, serializeError } from '../communicator/errors.js';
import { processExecArgv, siblingModule, threadBootstrap } from './module-loading.js';
import { emitWarningOnce, launchOversubscription, rowOf } from '../selection/index.js';
import { ProcessRank } from './rank-process.js';
import { ThreadRank } from './rank-thread.js';
import { workerEnvironment } from './worker-communicator.js';
import { planTraining, type TrainContext, type TrainOptions, type TrainPlan } from './train-options.js';
import { TrainRun } from './train-run.js';
import { TRAIN_WORKER_DATA_KEY, type WorkerConfig } from './worker-messages.js';

export type { ProgressEvent, TrainContext, TrainOptions, WorkerFunction } from './train-options.js';

/**
 * The size of the per-run tcp token (random bytes, sent to the workers over IPC, never in the environment
 * they start with; each worker puts it in its own process.env for its init()).
 */
const RUN_TOKEN_BYTES = 16;

/**
 * Runs the default export of `workerModule` on `numWorkers` ranks and resolves with rank 0's
 * result (spec/train.md §2). Each worker is a fresh worker thread (`shm`) or child process (`tcp`)
 * whose function receives its {@link Communicator} and a {@link TrainContext}; with one worker (the
 * default) the function runs in this thread on the `local` backend. Progress events reach
 * `options.onProgress`; the first failure stops every worker and becomes the rejection; nothing of
 * the run (thread, process, socket, timer) is left once it settles. The module is imported once
 * here too, to check its default export, so its top-level code runs in the caller as well. `.ts`
 * modules run through `tsx`.
 *
 * @typeParam R - rank 0's result type.
 * @typeParam A - the type of `options.args`.
 * @param workerModule - a `.js`/`.ts` module path (relative to the current directory) or URL,
 *   whose default export is a {@link WorkerFunction}.
 * @param options - see {@link TrainOptions}.
 * @returns rank 0's return value, structured-cloned.
 * @throws {@link BackendError} `IncompatibleSettings` before anything starts: a bad option, a
 *   module that does not exist, does not load or has no default export function, a malformed
 *   `COLLECTIVE_TIMEOUT_SECS` (spec/train.md §3). {@link WorkerError} when a worker throws, exits
 *   by itself or is killed (`rank`, `exitCode`, `signal`, `inner`: the first failure, spec/train.md
 *   §5). {@link CommError} `Timeout` (operation `'train'`) after `timeoutMs`. `signal.reason` when
 *   `signal` aborts. Whatever `onProgress` throws.
 * @example
 * ```ts
 * // main.ts
 * import { train } from 'collective';
 *
 * const weights = await train<Float64Array, { steps: number }>('./worker.ts', {
 *   numWorkers: 4,
 *   args: { steps: 100 },
 *   onProgress: (e) => console.log(`worker ${e.workerId}: step ${String(e['step'])}`),
 *   timeoutMs: 10 * 60 * 1000,
 * });
 *
 * // worker.ts
 * import type { Communicator, TrainContext } from 'collective';
 *
 * export default async function (comm: Communicator, ctx: TrainContext<{ steps: number }>) {
 *   const weights = new Float64Array(8);
 *   for (let step = 0; step < ctx.args.steps && !ctx.signal.aborted; step++) {
 *     const sum = await comm.allreduce(weights.map(() => comm.rank + step));
 *     for (let i = 0; i < weights.length; i++) weights[i]! -= (0.01 * sum[i]!) / comm.size;
 *     ctx.progress({ step });
 *   }
 *   return weights;
 * }
 * ```
 */
export async function train<R = unknown, A = unknown>(
  workerModule: string | URL,
  options: TrainOptions<A> = {},
): Promise<R> {
  const plan = await planTraining(workerModule, options);
  const { ranks } = rowOf(plan.backend).launch;
  if (ranks === 'one') return (await runInThisThread(plan)) as R;
  // Said here, once per launch; a shm rank 0 is told not to repeat it (launcherWarned).
  const oversubscribed = launchOversubscription(plan.numWorkers, plan.backend);
  if (oversubscribed) emitWarningOnce(oversubscribed);
  const run = new TrainRun(plan);
  const entry = siblingModule('worker-entry');
  const modules = [entry, plan.moduleUrl];
  const token = randomBytes(RUN_TOKEN_BYTES).toString('hex');
  const config = (rank: number): WorkerConfig => ({
    rank,
    size: plan.numWorkers,
    backend: plan.backend,
    moduleUrl: plan.moduleUrl.href,
    args: plan.args,
    token,
  });

  if (ranks === 'threads') {
    const group = createShmGroup({ size: plan.numWorkers });
    run.onFirstFailure = (rank, reason) => group.abort(rank, reason);
    const source = threadBootstrap(entry, modules);
    return (await run.run(
      (rank) =>
        new ThreadRank({
          rank,
          source,
          workerData: {
            [TRAIN_WORKER_DATA_KEY]: config(rank),
            [SHM_WORKER_DATA_KEY]: { group: group.handle, rank, launcherWarned: true },
          },
          env: workerEnvironment(plan.env, { backend: plan.backend, rank, size: plan.numWorkers }),
          output: 'inherit',
          signalRelay: false,
        }),
    )) as R;
  }

  const execArgv = processExecArgv(modules);
  run.onListening = (host, port) => run.broadcast({ kind: 'collective:coordinator', host, port }, 0);
  return (await run.run((rank) => {
    const handle = new ProcessRank({
      rank,
      entry,
      execArgv,
      env: workerEnvironment(plan.env, { backend: plan.backend, rank, size: plan.numWorkers }),
      output: 'inherit',
      ownProcessGroup: true,
    });
    handle.send({ kind: 'collective:start', config: config(rank) });
    return handle;
  })) as R;
}

/**
 * numWorkers 1: the function runs here, on the local backend. A timeout or abort rejects train() and
 * aborts ctx.signal, but cannot stop code that ignores the signal (it shares this thread).
 */
async function runInThisThread(plan: TrainPlan): Promise<unknown> {
  const { signal, timeoutMs, onProgress } = plan;
  if (signal?.aborted) throw signal.reason;
  const stop = new AbortController();
  const comm = createLocalCommunicator();
  const ctx: TrainContext = {
    // A clone, as a worker would receive: the function cannot mutate the caller's args by accident.
    args: structuredClone(plan.args),
    signal: stop.signal,
    progress: (event) => onProgress?.({ ...structuredClone(event), workerId: 0 }),
  };
  let timer: NodeJS.Timeout | null = null;
  let onAbort: (() => void) | null = null;
  const stopped = new Promise<never>((_resolve, reject) => {
    const stopWith = (error: unknown): void => {
      stop.abort(error);
      reject(error);
    };
    if (timeoutMs !== null) {
      timer = setTimeout(
        () =>
          stopWith(
            new CommError('Timeout', 'train', `the worker did not finish within ${timeoutMs} ms`, {
              timeoutMs,
              missing: [0],
            }),
          ),
        timeoutMs,
      );
    }
    if (signal) {
      onAbort = () => stopWith(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  const work = (async () => {
    try {
      return await plan.workerFunction(comm, ctx);
    } catch (error) {
      throw new WorkerError(0, 1, null, serializeError(error));
    } finally {
      await comm.close();
    }
  })();
  try {
    return await Promise.race([work, stopped]);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // Whichever lost the race must not surface as an unhandled rejection.
    work.catch(() => {});
    stopped.catch(() => {});
  }
}
