/** One shm rank of a benchmark world (a worker thread started by ShmRunner). */
import { parentPort, workerData } from 'node:worker_threads';
import type { ShmGroupHandle } from '../../src/backends/shm/index.js';
import { libraryModule, type LibrarySource } from '../harness/library.js';
import { describeFailure, type RankReport } from '../harness/rank-report.js';
import { measureOnRank } from '../harness/rank-loop.js';
import type { Workload } from '../harness/workload.js';

export interface ShmRankData {
  readonly group: ShmGroupHandle;
  readonly rank: number;
  readonly workloads: readonly Workload[];
  readonly timeoutSecs: number;
  readonly library: LibrarySource;
  readonly worldWarmupMs: number;
}

type ShmModule = typeof import('../../src/backends/shm/index.js');

/**
 * Keeps this thread's event loop alive while it waits: a shm collective that waits longer than its
 * synchronous budget continues on Atomics.waitAsync, which does not hold the loop open, so the thread
 * would exit with code 0 mid-collective (seen at 4 ranks on 2 cores).
 */
const KEEPALIVE_MS = 1 << 30;

async function main(data: ShmRankData): Promise<RankReport> {
  const keepalive = setInterval(() => {}, KEEPALIVE_MS);
  try {
    return await measure(data);
  } finally {
    clearInterval(keepalive);
  }
}

async function measure(data: ShmRankData): Promise<RankReport> {
  const { connectShm } = (await import(libraryModule(data.library, 'backends/shm/index'))) as ShmModule;
  const comm = await connectShm({ group: data.group, rank: data.rank, timeoutSecs: data.timeoutSecs });
  try {
    const timings = await measureOnRank(comm, data.workloads, data.worldWarmupMs);
    return { kind: 'timings', rank: data.rank, timings };
  } finally {
    await comm.close();
  }
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as ShmRankData;
  main(data).then(
    (report) => port.postMessage(report),
    (error: unknown) => port.postMessage({ kind: 'error', rank: data.rank, message: describeFailure(error) }),
  );
}
