/** One shm rank of a benchmark world (a worker thread started by ShmRunner). */
import { parentPort, workerData } from 'node:worker_threads';
import { connectShm, type ShmGroupHandle } from '../../src/backends/shm/index.js';
import { describeFailure, type RankReport } from '../harness/rank-report.js';
import { measureOnRank } from '../harness/rank-loop.js';
import type { Workload } from '../harness/workload.js';

export interface ShmRankData {
  readonly group: ShmGroupHandle;
  readonly rank: number;
  readonly workloads: readonly Workload[];
  readonly timeoutSecs: number;
}

async function main(data: ShmRankData): Promise<RankReport> {
  const comm = await connectShm({ group: data.group, rank: data.rank, timeoutSecs: data.timeoutSecs });
  try {
    return { kind: 'timings', rank: data.rank, timings: await measureOnRank(comm, data.workloads) };
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
