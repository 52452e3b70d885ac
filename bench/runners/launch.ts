/**
 * Launch cost: time from the train() call to every rank connected, for LAUNCH_WORKERS workers. The
 * worker module (launch-worker.js, plain JavaScript: the target is for `.js` workers, which load no
 * tsx) passes one barrier, which completes only once every rank has joined, and returns rank 0's clock
 * then; the clocks are epoch-based, comparable across threads and processes of one machine.
 */
import { libraryModule, type LibrarySource } from '../harness/library.js';
import { describeFailure } from '../harness/rank-report.js';
import type { RunContext } from '../harness/runner.js';
import { summarise } from '../harness/stats.js';
import type { Result, Workload } from '../harness/workload.js';

const US_PER_MS = 1000;

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across processes (as launch-worker.js reads it). */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The backends whose launch cost is measured through train(). */
export type LaunchBackend = 'shm' | 'tcp' | 'ws';

type TrainModule = typeof import('../../src/launch/train.js');

async function launchOnce(library: LibrarySource, backend: LaunchBackend, ranks: number): Promise<number> {
  const { train } = (await import(libraryModule(library, 'launch/train'))) as TrainModule;
  const calledAt = epochMs();
  const connectedAt = await train<number>(new URL('./launch-worker.js', import.meta.url), {
    numWorkers: ranks,
    backend,
  });
  return (connectedAt - calledAt) * US_PER_MS;
}

/** null (logged) when train() fails: the other workloads' results still count. */
export async function measureLaunch(
  runner: string,
  backend: LaunchBackend,
  w: Workload,
  context: RunContext,
): Promise<Result | null> {
  context.log(`${runner}: train() with ${w.ranks} workers ×${w.batches}`);
  try {
    for (let i = 0; i < w.warmup; i++) await launchOnce(context.library, backend, w.ranks);
    const batches: number[] = [];
    for (let b = 0; b < w.batches; b++) batches.push(await launchOnce(context.library, backend, w.ranks));
    return summarise(runner, w, batches);
  } catch (error) {
    context.problem(runner, `launch not measured: ${describeFailure(error)}`);
    return null;
  }
}
