/**
 * One rank of the shm benchmark (a worker thread), timing each collective the way
 * ../shared/baselines/mpi_coll_bench.c does: 8 batches, the first discarded, each batch's per-call
 * time taken as the max over ranks, the median of the other 7 reported.
 *
 * Plain JavaScript on the compiled library (dist/, built by `npm run bench:shm`): the benchmark
 * measures the code users run, not a development-time transpiler's output.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectShm, SHM_WORKER_DATA_KEY } from '../../dist/backends/shm/index.js';
import { setAcceleration } from '../../dist/communicator/reduce.js';

const BATCHES = 8;
const TIMEOUT_SECS = 120;
/** Calls of each collective before measuring, so the timed code is optimised code. */
const WARMUP_CALLS = 20_000;

/** Calls per batch, as in mpi_coll_bench.c (a tenth in --quick mode). */
function iterations(bytes, quick) {
  const full = bytes <= 4096 ? 2000 : bytes <= 262144 ? 200 : 20;
  return quick ? Math.max(3, Math.ceil(full / 10)) : full;
}

async function time(comm, iters, call) {
  const perBatch = [];
  const worst = new Float64Array(1);
  for (let b = 0; b < BATCHES; b++) {
    await comm.barrier();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await call();
    worst[0] = Number(process.hrtime.bigint() - t0) / 1000 / iters;
    await comm.allreduce(worst, 'max', worst);
    if (b > 0) perBatch.push(worst[0]);
  }
  perBatch.sort((a, b) => a - b);
  return perBatch[perBatch.length >> 1];
}

const request = workerData;
setAcceleration(request.acceleration);
const { group, rank } = request[SHM_WORKER_DATA_KEY];
const comm = await connectShm({ group, rank, timeoutSecs: TIMEOUT_SECS });
// JIT warm-up (compiled code gets this for free): every collective's path, before any clock runs.
// allgatherv both ways: without counts (the exchange path) and with { counts, displs, recv }, the
// form timed below, else its first sizes are timed while V8 re-optimises for that call shape.
const warm = new Float64Array(1);
const warmLayout = {
  counts: new Array(comm.size).fill(1),
  displs: Array.from({ length: comm.size }, (_, r) => r),
  recv: new Float64Array(comm.size),
};
for (let i = 0; i < WARMUP_CALLS; i++) {
  await comm.barrier();
  await comm.allreduce(warm, 'sum', warm);
  await comm.allgatherv(warm);
  await comm.allgatherv(warm, warmLayout);
  await comm.broadcast(warm, 0);
}
const lines = [];
const record = (op, bytes, medianUs) => lines.push({ op, bytes, medianUs });
record('barrier', 0, await time(comm, iterations(0, request.quick), () => comm.barrier()));
for (const bytes of request.sizes) {
  const n = bytes / 8;
  const send = new Float64Array(n).fill(rank + 1);
  const recv = new Float64Array(n);
  const gathered = new Float64Array(n * comm.size);
  const counts = new Array(comm.size).fill(n);
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
if (rank === 0) parentPort.postMessage(lines);
await comm.barrier();
await comm.close();
