/**
 * tcp star vs direct on 127.0.0.1, alternated world by world in one run (star, direct, direct, star, …):
 * R rank processes per world, float64 sum allreduce of `--bytes`, a barrier before each timed call, the
 * call's time its slowest rank's, and each rank's CPU time per call (process.cpuUsage) — on a machine
 * with fewer cores than ranks the total CPU, not one rank's bytes, decides. Loads the built package
 * (dist/: run `npx tsc -p tsconfig.build.json` first). spec/performance.md §4.6.
 *
 *   npx tsx bench/tcp/algorithms.ts [--ranks 8] [--bytes 2097152] [--iterations 9] [--worlds 2]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

type Algorithm = 'star' | 'direct';
interface Report {
  readonly ms: number[];
  readonly cpuMs: number;
}

const DIST_TCP = new URL('../../dist/backends/tcp/index.js', import.meta.url).href;
const WARMUP = 3;
const TIMEOUT_SECS = 120;
const CONNECT_TIMEOUT_SECS = 60;

async function rank(args: string[]): Promise<void> {
  const [r, size, port, algorithm, bytes, iterations] = args;
  const { connectTcp } = (await import(DIST_TCP)) as typeof import('../../src/backends/tcp/index.js');
  const comm = await connectTcp({
    rank: Number(r),
    size: Number(size),
    host: '127.0.0.1',
    port: Number(port),
    algorithm: algorithm as Algorithm,
    timeoutSecs: TIMEOUT_SECS,
    connectTimeoutSecs: CONNECT_TIMEOUT_SECS,
    stallWarningSecs: 0,
    onListening: ({ port }) => process.send?.({ port }),
  });
  const send = new Float64Array(Number(bytes) / 8).fill(1);
  const recv = new Float64Array(send.length);
  for (let i = 0; i < WARMUP; i++) await comm.allreduce(send, 'sum', recv);
  const ms: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < Number(iterations); i++) {
    await comm.barrier();
    const start = performance.now();
    await comm.allreduce(send, 'sum', recv);
    ms.push(performance.now() - start);
  }
  const used = process.cpuUsage(cpu);
  await comm.barrier();
  process.send?.({ ms, cpuMs: (used.user + used.system) / 1000 / Number(iterations) });
  await comm.close();
  process.disconnect?.();
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function world(algorithm: Algorithm, ranks: number, bytes: number, iterations: number) {
  const self = fileURLToPath(import.meta.url);
  const start = (r: number, port: number) =>
    fork(self, [
      'rank',
      String(r),
      String(ranks),
      String(port),
      algorithm,
      String(bytes),
      String(iterations),
    ]);
  const next = <T>(child: ReturnType<typeof fork>) =>
    new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T)));
  const first = start(0, 0);
  const { port } = await next<{ port: number }>(first);
  const children = [first, ...Array.from({ length: ranks - 1 }, (_, i) => start(i + 1, port))];
  const reports = await Promise.all(children.map((c) => next<Report>(c)));
  const calls = reports[0]!.ms.map((_, i) => Math.max(...reports.map((r) => r.ms[i]!)));
  return { ms: median(calls), cpu: reports.map((r) => r.cpuMs) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ranks: { type: 'string', default: '8' },
      bytes: { type: 'string', default: '2097152' },
      iterations: { type: 'string', default: '9' },
      worlds: { type: 'string', default: '2' },
    },
  });
  const [ranks, bytes, iterations, worlds] = [
    values.ranks,
    values.bytes,
    values.iterations,
    values.worlds,
  ].map(Number) as [number, number, number, number];
  const results: Record<Algorithm, Array<{ ms: number; cpu: number[] }>> = { star: [], direct: [] };
  for (let w = 0; w < worlds; w++) {
    const order: Algorithm[] = w % 2 ? ['direct', 'star'] : ['star', 'direct'];
    for (const a of order) results[a].push(await world(a, ranks, bytes, iterations));
  }
  console.log(
    `${ranks} ranks, allreduce ${bytes} B float64 sum, ${iterations} calls per world, ${worlds} worlds each`,
  );
  console.log(
    '| algorithm | ms (median of worlds) [each] | CPU ms per call, all ranks | CPU ms per call per rank (first world) |',
  );
  console.log('| --- | --- | --- | --- |');
  for (const a of ['star', 'direct'] as const) {
    const rows = results[a];
    const total = median(rows.map((r) => r.cpu.reduce((x, y) => x + y, 0)));
    console.log(
      `| ${a} | ${median(rows.map((r) => r.ms)).toFixed(1)} [${rows.map((r) => r.ms.toFixed(1)).join(', ')}] | ` +
        `${total.toFixed(1)} | ${rows[0]!.cpu.map((c) => c.toFixed(1)).join(', ')} |`,
    );
  }
}

if (process.argv[2] === 'rank') await rank(process.argv.slice(3));
else await main();
