/**
 * Runs one benchmark world as worker threads in this process: rank r runs `entry` with
 * workerData(r) and posts one RankReport. TypeScript entries get tsx registered first: a worker
 * thread does not inherit the parent's --import loader on Node 20.
 */
import { Worker } from 'node:worker_threads';
import { describeFailure, isRankReport, type RankReport } from './rank-report.js';

function bootstrap(entry: URL): string {
  if (!entry.pathname.endsWith('.ts')) return `import(${JSON.stringify(entry.href)});`;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
}

export interface ThreadWorldOptions {
  readonly ranks: number;
  readonly entry: URL;
  workerData(rank: number): unknown;
  /** Called once on the first failure, before the other threads are stopped (e.g. abort a shm group). */
  onFailure?(rank: number, reason: string): void;
}

/** A thread that has reported but not exited after this long is terminated (the parent must not hang). */
const EXIT_GRACE_MS = 5_000;

/**
 * Resolves with every rank's timings (index = rank) once every thread has exited on its own — so that
 * `node --cpu-prof` writes each thread's profile; rejects on the first rank that fails.
 */
export function runThreadWorld(options: ThreadWorldOptions): Promise<number[][][]> {
  const { ranks, entry } = options;
  const source = bootstrap(entry);
  const timings: number[][][] = new Array(ranks);
  const workers: Worker[] = [];
  let reported = 0;
  let exited = 0;
  let failed = false;
  return new Promise((resolve, reject) => {
    let stragglers: NodeJS.Timeout | null = null;
    const fail = (rank: number, reason: string): void => {
      if (failed || reported === ranks) return;
      failed = true;
      options.onFailure?.(rank, reason);
      void Promise.all(workers.map((w) => w.terminate())).then(() =>
        reject(new Error(`rank ${rank}: ${reason}`)),
      );
    };
    const maybeDone = (): void => {
      if (failed || reported < ranks) return;
      if (exited === ranks) {
        if (stragglers) clearTimeout(stragglers);
        resolve(timings);
      } else stragglers ??= setTimeout(() => workers.forEach((w) => void w.terminate()), EXIT_GRACE_MS);
    };
    for (let rank = 0; rank < ranks; rank++) {
      const worker = new Worker(source, { eval: true, workerData: options.workerData(rank) });
      workers.push(worker);
      worker.on('message', (message: unknown) => {
        if (!isRankReport(message)) return;
        const report: RankReport = message;
        if (report.kind === 'error') fail(rank, report.message);
        else if (report.kind === 'timings') {
          timings[rank] = report.timings;
          reported += 1;
          maybeDone();
        }
      });
      worker.on('error', (error) => fail(rank, describeFailure(error)));
      worker.on('exit', (code) => {
        exited += 1;
        if (timings[rank] === undefined) fail(rank, `thread exited (code ${code}) before reporting`);
        else maybeDone();
      });
    }
  });
}
