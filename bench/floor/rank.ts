/**
 * One rank of bench/floor's 2-rank shm group (a worker thread): the backend alone, then the whole
 * call, for allreduce 8 B and barrier. Posts a RankReport whose timings are the rows in ROW_ORDER.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ShmGroupHandle } from '../../src/backends/shm/index.js';
import { describeFailure, type RankReport } from '../harness/rank-report.js';
import { allreduceFingerprint, loadLibrary, timeAsync, timeMaybeSync, type Effort } from './parts.js';

export interface FloorRankData {
  readonly dist: string;
  readonly group: ShmGroupHandle;
  readonly rank: number;
  readonly effort: Effort;
}

/** The timings a rank reports, in this order. */
export const ROW_ORDER = [
  'backend allreduce',
  'backend barrier',
  'whole allreduce',
  'whole barrier',
] as const;

async function measure(data: FloorRankData): Promise<RankReport> {
  const lib = await loadLibrary(data.dist);
  const backend = await lib.shm.joinShm({ group: data.group, rank: data.rank, timeoutSecs: 60 });
  const comm = new lib.communicator.CheckedCommunicator(backend);
  const send = Float64Array.of(data.rank + 1);
  const recv = new Float64Array(1);
  const fp = allreduceFingerprint(lib);
  const barrierFp = lib.fingerprint.fingerprint('barrier');
  const sync = (): Promise<void> => comm.barrier();
  const timings = [
    // A worker thread's shm collective completes synchronously (a promise only after a long sleep).
    await timeMaybeSync(data.effort, () => backend.allreduce(fp, send, recv, 'sum'), sync),
    await timeMaybeSync(data.effort, () => backend.barrier(barrierFp), sync),
    await timeAsync(data.effort, () => comm.allreduce(send, 'sum', recv), sync),
    await timeAsync(data.effort, () => comm.barrier(), sync),
  ];
  if (recv[0] !== 3) throw new Error(`allreduce gave ${recv[0]}, expected 3`);
  await comm.barrier();
  await comm.close();
  return { kind: 'timings', rank: data.rank, timings };
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as FloorRankData;
  measure(data).then(
    (report) => port.postMessage(report),
    (error: unknown) => port.postMessage({ kind: 'error', rank: data.rank, message: describeFailure(error) }),
  );
}
