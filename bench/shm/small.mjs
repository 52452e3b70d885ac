/**
 * Small-collective latency at 2 ranks (8 B), for profiling the per-call cost of the shm backend:
 * each op runs CALLS times per repetition, REPS repetitions, and the median ns per call is printed.
 *
 *   npx tsc -p tsconfig.build.json && node bench/shm/small.mjs [--reps 7] [--calls 50000] [--prof DIR]
 *
 * With --prof each rank writes a V8 CPU profile (node --cpu-prof) into DIR.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { connectShm, createShmGroup, SHM_WORKER_DATA_KEY } from '../../dist/backends/shm/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const REPS = Number(option('--reps', 7));
const CALLS = Number(option('--calls', 50_000));
const PROFILE_DIR = option('--prof', null);
const RANKS = 2;
const OPS = ['barrier', 'allreduce', 'allgatherv', 'broadcast'];

async function rankMain() {
  const { group, rank } = workerData[SHM_WORKER_DATA_KEY];
  const comm = await connectShm({ group, rank, timeoutSecs: 60 });
  const send = new Float64Array(1).fill(rank + 1);
  const recv = new Float64Array(1);
  const gathered = new Float64Array(RANKS);
  const layout = { counts: [1, 1], displs: [0, 1], recv: gathered };
  const call = {
    barrier: () => comm.barrier(),
    allreduce: () => comm.allreduce(send, 'sum', recv),
    allgatherv: () => comm.allgatherv(send, layout),
    broadcast: () => comm.broadcast(send, 0),
  };
  const worst = new Float64Array(1);
  const results = {};
  for (const op of OPS) {
    const f = call[op];
    for (let i = 0; i < CALLS; i++) await f(); // warm-up (JIT)
    const perRep = [];
    for (let r = 0; r < REPS; r++) {
      await comm.barrier();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) await f();
      worst[0] = Number(process.hrtime.bigint() - t0) / CALLS;
      await comm.allreduce(worst, 'max', worst);
      perRep.push(worst[0]);
    }
    perRep.sort((a, b) => a - b);
    results[op] = perRep[perRep.length >> 1];
  }
  if (rank === 0) parentPort.postMessage(results);
  await comm.barrier();
  await comm.close();
}

if (isMainThread) {
  const group = createShmGroup({ size: RANKS });
  const execArgv = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
  const workers = Array.from(
    { length: RANKS },
    (_, rank) =>
      new Worker(new URL(import.meta.url), {
        argv: args,
        execArgv,
        workerData: { [SHM_WORKER_DATA_KEY]: { group: group.handle, rank } },
      }),
  );
  const results = await new Promise((resolve, reject) => {
    workers[0].once('message', resolve);
    for (const w of workers) w.once('error', reject);
  });
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  for (const op of OPS)
    console.log(`${op.padEnd(11)} 8 B  ${results[op].toFixed(0).padStart(6)} ns/call (median of ${REPS})`);
} else {
  await rankMain();
}
