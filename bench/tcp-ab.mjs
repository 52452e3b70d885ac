// tcp allreduce of two builds in one run, alternating round by round (A, B, A, B, …): a before/after
// on a noisy machine (spec/performance.md §4.5). Each DIR is a checkout with dist/ built.
//
//   node bench/tcp-ab.mjs --dirs OLD,NEW [--ranks 2,4] [--bytes 2097152] [--rounds 3] [--calls 20]
//
// Prints, per build, ranks and bytes: the median µs per allreduce (float64 sum) over every timed
// call of every round, as rank 0 saw it (each call waits for every rank's data, so rank 0's time is
// the group's), and the per-round medians.
import { fork } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const WARMUP = 3;
const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};

async function rank() {
  const { dir, rank, size, port, bytes, calls } = JSON.parse(argv[1]);
  const { connectTcp } = await import(pathToFileURL(join(dir, 'dist/backends/tcp/index.js')).href);
  const comm = await connectTcp({
    rank,
    size,
    host: '127.0.0.1',
    port,
    timeoutSecs: 120,
    connectTimeoutSecs: 60,
    onListening: ({ port: p }) => process.send({ port: p }),
  });
  const send = new Float64Array(bytes / 8).fill(rank + 1);
  const recv = new Float64Array(bytes / 8);
  const times = [];
  for (let i = 0; i < WARMUP + calls; i++) {
    const t0 = process.hrtime.bigint();
    await comm.allreduce(send, 'sum', recv);
    if (i >= WARMUP) times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  if (recv[0] !== (size * (size + 1)) / 2) throw new Error(`wrong sum ${recv[0]}`);
  await comm.barrier();
  await comm.close();
  if (rank === 0) process.send({ times });
}

function group(dir, size, bytes, calls) {
  const script = fileURLToPath(import.meta.url);
  const spawn = (r, port) =>
    fork(script, ['--rank', JSON.stringify({ dir, rank: r, size, port, bytes, calls })]);
  return new Promise((done, fail) => {
    const zero = spawn(0, 0);
    zero.on('exit', (code) => code !== 0 && fail(new Error(`rank 0 exited ${code}`)));
    zero.on('message', (m) => {
      if (m.port !== undefined) for (let r = 1; r < size; r++) spawn(r, m.port);
      if (m.times) done(m.times);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const dirs = flag('--dirs', '.')
    .split(',')
    .map((d) => resolve(d));
  const ranks = flag('--ranks', '2,4').split(',').map(Number);
  const sizes = flag('--bytes', '2097152').split(',').map(Number);
  const rounds = Number(flag('--rounds', '3'));
  const calls = Number(flag('--calls', '20'));
  const all = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const size of ranks) {
      for (const bytes of sizes) {
        for (const dir of dirs) {
          const key = `${dir} | ${size} ranks | ${bytes} B`;
          const times = await group(dir, size, bytes, calls);
          if (!all.has(key)) all.set(key, { times: [], rounds: [] });
          all.get(key).times.push(...times);
          all.get(key).rounds.push(median(times));
        }
      }
    }
  }
  console.log(
    `tcp allreduce float64 sum, ${rounds} rounds × ${calls} calls, µs per call (median; per-round medians)`,
  );
  for (const [key, { times, rounds: r }] of all)
    console.log(`${key} | ${median(times).toFixed(0)} | ${r.map((x) => x.toFixed(0)).join(', ')}`);
}

if (argv[0] === '--rank') await rank();
else await main();
