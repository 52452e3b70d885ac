/**
 * Small-collective latency at any number of ranks (8 B allreduce and barrier), for tuning how shm
 * ranks wait when they outnumber the cores (spec/backend-shm.md §3.3.1). Several builds (and spin
 * policies) are compared in one run: the same worker threads join one group per variant and run
 * batches of CALLS calls on each variant in turn (A, B, A, B, …), so a noisy machine's load falls
 * on every variant alike. Per variant and op: the median over batches of the slowest rank's µs per
 * call.
 *
 *   npx tsc -p tsconfig.build.json && node bench/shm/oversubscribed.mjs --ranks 4 \
 *     [--variants dist,/tmp/old/dist,dist:off] [--reps 15] [--calls 500] [--ops allreduce,barrier]
 *
 * A variant is `DIR[:SPIN]`: DIR holds a build of src/ (its backends/shm/index.js is loaded), SPIN
 * is passed to connectShm as `spin` (omitted: the build's default).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const RANKS = Number(option('--ranks', 4));
const REPS = Number(option('--reps', 15));
const CALLS = Number(option('--calls', 500));
const OPS = option('--ops', 'allreduce,barrier').split(',');
const VARIANTS = option('--variants', 'dist')
  .split(',')
  .map((v) => {
    const [dir, spin] = v.split(':');
    return { name: v, module: pathToFileURL(resolve(dir, 'backends/shm/index.js')).href, spin };
  });
const US_PER_NS = 1e-3;

async function rankMain() {
  const { groups, rank } = workerData;
  const comms = [];
  for (let v = 0; v < VARIANTS.length; v++) {
    const { connectShm } = await import(VARIANTS[v].module);
    const spin = VARIANTS[v].spin;
    comms.push(await connectShm({ group: groups[v], rank, timeoutSecs: 60, ...(spin ? { spin } : {}) }));
  }
  const send = new Float64Array(1).fill(rank + 1);
  const recv = new Float64Array(1);
  const expected = (RANKS * (RANKS + 1)) / 2;
  const run = {
    barrier: async (comm, n) => {
      for (let i = 0; i < n; i++) await comm.barrier();
    },
    allreduce: async (comm, n) => {
      for (let i = 0; i < n; i++) await comm.allreduce(send, 'sum', recv);
      if (recv[0] !== expected) throw new Error(`allreduce gave ${recv[0]}, expected ${expected}`);
    },
  };
  const worst = new Float64Array(1);
  const samples = VARIANTS.map(() => Object.fromEntries(OPS.map((op) => [op, []])));
  for (const op of OPS) for (const comm of comms) await run[op](comm, CALLS); // warm-up (JIT)
  for (let r = 0; r < REPS; r++) {
    for (const op of OPS) {
      for (let v = 0; v < comms.length; v++) {
        const comm = comms[v];
        await comm.barrier();
        const t0 = process.hrtime.bigint();
        await run[op](comm, CALLS);
        worst[0] = Number(process.hrtime.bigint() - t0) / CALLS;
        await comm.allreduce(worst, 'max', worst);
        samples[v][op].push(worst[0] * US_PER_NS);
      }
    }
  }
  if (rank === 0) parentPort.postMessage(samples);
  for (const comm of comms) await comm.close();
}

if (isMainThread) {
  const groups = [];
  for (const v of VARIANTS) groups.push((await import(v.module)).createShmGroup({ size: RANKS }).handle);
  const workers = Array.from(
    { length: RANKS },
    (_, rank) => new Worker(new URL(import.meta.url), { argv: args, workerData: { groups, rank } }),
  );
  const samples = await new Promise((done, fail) => {
    workers[0].once('message', done);
    for (const w of workers) w.once('error', fail);
  });
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const op of OPS) {
    for (let v = 0; v < VARIANTS.length; v++) {
      const xs = samples[v][op];
      const sorted = [...xs].sort((a, b) => a - b);
      console.log(
        `${RANKS} ranks ${op.padEnd(9)} 8 B  ${VARIANTS[v].name.padEnd(20)} median ${median(xs).toFixed(1).padStart(7)} µs  (quartiles ${sorted[xs.length >> 2].toFixed(1)}–${sorted[(3 * xs.length) >> 2].toFixed(1)})`,
      );
    }
  }
} else {
  await rankMain();
}
