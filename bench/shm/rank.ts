/**
 * One rank of the shm benchmark (a worker thread): times each collective like
 * ../shared/baselines/mpi_coll_bench.c does — 8 batches, the first discarded, each batch's
 * per-call time taken as the max over ranks, the median of the other 7 reported.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectShm, SHM_WORKER_DATA_KEY, type ShmGroupHandle } from '../../src/backends/shm/index.js';
import type { Communicator } from '../../src/communicator/communicator.js';
import { setAcceleration } from '../../src/communicator/reduce.js';

export interface BenchRequest {
  [SHM_WORKER_DATA_KEY]: { group: ShmGroupHandle; rank: number };
  sizes: number[];
  quick: boolean;
  acceleration: boolean;
}
export interface BenchLine {
  op: string;
  bytes: number;
  medianUs: number;
}

const BATCHES = 8;
const TIMEOUT_SECS = 120;

/** Calls per batch, as in mpi_coll_bench.c (fewer in --quick mode). */
function iterations(bytes: number, quick: boolean): number {
  const full = bytes <= 4096 ? 2000 : bytes <= 262144 ? 200 : 20;
  return quick ? Math.max(3, Math.ceil(full / 10)) : full;
}

async function time(comm: Communicator, iters: number, call: () => Promise<unknown>): Promise<number> {
  const perBatch: number[] = [];
  const worst = new Float64Array(1);
  for (let b = 0; b < BATCHES; b++) {
    await comm.barrier();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await call();
    worst[0] = Number(process.hrtime.bigint() - t0) / 1000 / iters;
    await comm.allreduce(worst, 'max', worst);
    if (b > 0) perBatch.push(worst[0] as number);
  }
  perBatch.sort((a, b) => a - b);
  return perBatch[perBatch.length >> 1] as number;
}

async function main(): Promise<void> {
  const request = workerData as BenchRequest;
  setAcceleration(request.acceleration);
  const { group, rank } = request[SHM_WORKER_DATA_KEY];
  const comm = await connectShm({ group, rank, timeoutSecs: TIMEOUT_SECS });
  const lines: BenchLine[] = [];
  const record = (op: string, bytes: number, medianUs: number): void =>
    void lines.push({ op, bytes, medianUs });
  record('barrier', 0, await time(comm, iterations(0, request.quick), () => comm.barrier()));
  for (const bytes of request.sizes) {
    const n = bytes / 8;
    const send = new Float64Array(n).fill(rank + 1);
    const recv = new Float64Array(n);
    const gathered = new Float64Array(n * comm.size);
    const counts = new Array<number>(comm.size).fill(n);
    const displs = counts.map((_, r) => r * n);
    const iters = iterations(bytes, request.quick);
    record('allreduce', bytes, await time(comm, iters, () => comm.allreduce(send, 'sum', recv)));
    record(
      'allgatherv',
      bytes,
      await time(comm, iters, () => comm.allgatherv(send, { counts, displs, recv: gathered })),
    );
    record('bcast', bytes, await time(comm, iters, () => comm.broadcast(send, 0)));
  }
  if (rank === 0) parentPort!.postMessage(lines);
  await comm.barrier();
  await comm.close();
}

await main();
