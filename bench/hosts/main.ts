/**
 * tcp allreduce across namespace hosts (test/support/netns.ts), star vs direct side by side: R ranks,
 * one per network namespace, two worlds on the same hosts (TcpOptions.algorithm 'star' and 'direct',
 * rank 0 on two ports), float64 sum allreduce at each size, the two alternated batch by batch
 * (A, B, A, B, …) on links rate-limited with tbf (and, with --unlimited, on plain links too), beside the
 * bandwidth bound 2·(R−1)/R·n/rate of a bandwidth-optimal algorithm and the star's own bound
 * (R−1)·n/rate (rank 0's link carries every other rank's n in and the result out). Each batch also
 * times one raw Node socket stream from host 1 to host 0, to show what a link carries on this machine
 * now. Needs root and iproute2. spec/performance.md §4.4, §4.6.
 *
 *   npx tsx bench/hosts/main.ts [--quick] [--ranks 3,4] [--rate 1gbit] [--sizes 2097152,8388608]
 *     [--batches 3] [--algorithms star,direct] [--unlimited]
 */
import { parseArgs } from 'node:util';
import { createHosts, type Hosts } from '../../test/support/netns.js';
import { COORDINATOR_PORT, startWorld, type HostRank } from '../../test/hosts/world.js';

type Algorithm = 'star' | 'direct' | 'auto';
const ALGORITHMS: readonly Algorithm[] = ['star', 'direct', 'auto'];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    ranks: { type: 'string', default: '4' },
    rate: { type: 'string', default: '1gbit' },
    sizes: { type: 'string', default: '2097152,8388608' },
    batches: { type: 'string' },
    algorithms: { type: 'string', default: 'star,direct' },
    unlimited: { type: 'boolean', default: false },
  },
});
const quick = values.quick!;
const rankCounts = values.ranks!.split(',').map(Number);
const rate = values.rate!;
const sizes = values.sizes!.split(',').map(Number);
const batches = Number(values.batches ?? (quick ? '1' : '3'));
const algorithms = values.algorithms!.split(',') as Algorithm[];
for (const a of algorithms)
  if (!ALGORITHMS.includes(a)) throw new Error(`--algorithms: ${a} is not one of ${ALGORITHMS.join(', ')}`);
if (rankCounts.some((r) => !Number.isInteger(r) || r < 2 || r > 16))
  throw new Error(`--ranks: integers 2–16 separated by commas, got ${values.ranks}`);
if (sizes.some((b) => !Number.isInteger(b) || b <= 0 || b % 8 !== 0))
  throw new Error(`--sizes: positive multiples of 8 bytes (float64), got ${values.sizes}`);
const conditions = values.unlimited ? [false, true] : [true];
const ITERATIONS = quick ? 3 : 7;
const WARMUP = quick ? 1 : 2;
/** Collective timeout of the ranks (s): a stuck run ends instead of hanging the benchmark. */
const TIMEOUT_SECS = 120;

/** A tc rate ('1gbit', '500mbit', '100kbit') in bytes per second. */
function bytesPerSecond(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(text);
  if (!match) throw new Error(`--rate: expected a tc rate such as 1gbit or 500mbit, got ${text}`);
  const scale = { k: 1e3, m: 1e6, g: 1e9 }[(match[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return (Number(match[1]) * scale) / 8;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Every rank's per-call times of one batch; the call's time is the slowest rank's. */
async function batch(world: HostRank[], bytes: number): Promise<number[]> {
  for (const r of world)
    r.send({ type: 'measure', elements: bytes / 8, warmup: WARMUP, iterations: ITERATIONS });
  const replies = await Promise.all(world.map((r) => r.next('measured')));
  const times = replies.map((m) => m['ms'] as number[]);
  return times[0]!.map((_, i) => Math.max(...times.map((t) => t[i]!)));
}

/** Bytes of the raw stream: host 1 → host 0, one Node socket, to show what one link carries now. */
const RAW_BYTES = (quick ? 16 : 64) * 1024 * 1024;
const RAW_PORT = 5001;
const RAW_RECEIVER = `const s = require('node:net').createServer((c) => { let n = 0; const t = performance.now();
  c.on('data', (d) => (n += d.length)); c.on('end', () => { process.send({ n, ms: performance.now() - t });
  c.end(); s.close(); process.disconnect(); }); }).listen(${RAW_PORT}, process.argv[1], () => process.send({ up: 1 }));`;
const RAW_SENDER = `const c = require('node:net').connect(${RAW_PORT}, process.argv[1], () => { const b = Buffer.alloc(1 << 20);
  let i = 0; const w = () => { while (i < ${RAW_BYTES >> 20}) { i++; if (!c.write(b)) return c.once('drain', w); } c.end(); }; w(); });`;

/** One raw stream of RAW_BYTES from host 1 to host 0: megabytes per second. */
async function rawStream(world: Hosts): Promise<number> {
  const to = world.hosts[0]!.address;
  const env = { PATH: process.env['PATH'] ?? '' };
  const receiver = world.node(0, ['-e', RAW_RECEIVER, to], env);
  await new Promise((resolve) => receiver.once('message', resolve));
  world.node(1, ['-e', RAW_SENDER, to], env);
  const { n, ms } = await new Promise<{ n: number; ms: number }>((resolve) =>
    receiver.once('message', resolve),
  );
  return n / ms / 1e3;
}

const show = (v: readonly number[]) => `${median(v).toFixed(1)} [${v.map((x) => x.toFixed(1)).join(', ')}]`;
const linkName = (limited: boolean) => (limited ? `${rate} tbf` : 'unlimited');

/** One rank count: hosts, one world per algorithm, batches alternated; prints its table rows. */
async function measureRanks(ranks: number): Promise<void> {
  const hosts = await createHosts({ count: ranks });
  try {
    const worlds = new Map<Algorithm, HostRank[]>();
    for (const [i, algorithm] of algorithms.entries()) {
      const port = COORDINATOR_PORT + i;
      worlds.set(
        algorithm,
        startWorld(hosts, { scenario: 'measure', timeoutSecs: TIMEOUT_SECS, algorithm, port }),
      );
    }
    for (const world of worlds.values()) await Promise.all(world.map((r) => r.next('ready')));
    const results = new Map<string, number[]>(); // `${limited}:${algorithm}:${bytes}` → batch medians (ms)
    const add = (key: string, value: number) => results.set(key, [...(results.get(key) ?? []), value]);
    for (let b = 0; b < batches; b++) {
      for (const limited of conditions) {
        for (const host of hosts.hosts)
          await (limited ? hosts.limit(host.index, rate) : hosts.unlimit(host.index));
        add(`${limited}:raw`, await rawStream(hosts));
        for (const bytes of sizes) {
          // Alternate which algorithm goes first, batch by batch.
          const order = b % 2 ? [...algorithms].reverse() : algorithms;
          for (const algorithm of order)
            add(`${limited}:${algorithm}:${bytes}`, median(await batch(worlds.get(algorithm)!, bytes)));
        }
      }
    }
    for (const world of worlds.values()) for (const r of world) r.send({ type: 'close' });
    await Promise.all([...worlds.values()].flat().map((r) => r.exited));
    const perSecond = bytesPerSecond(rate);
    for (const limited of conditions) {
      console.log(
        `raw stream host 1 → host 0 (${RAW_BYTES >> 20} MiB, one Node socket), ${linkName(limited)}, MB/s per batch: ` +
          `[${results
            .get(`${limited}:raw`)!
            .map((v) => v.toFixed(1))
            .join(', ')}] (the rate is ${(perSecond / 1e6).toFixed(1)} MB/s)`,
      );
    }
    for (const limited of conditions) {
      for (const bytes of sizes) {
        const bound = ((2 * (ranks - 1)) / ranks) * (bytes / perSecond) * 1000;
        const starBound = (ranks - 1) * (bytes / perSecond) * 1000;
        const cells = algorithms.map((a) => show(results.get(`${limited}:${a}:${bytes}`)!));
        const ratios = algorithms.map(
          (a) => `${(median(results.get(`${limited}:${a}:${bytes}`)!) / bound).toFixed(2)}×`,
        );
        const first = median(results.get(`${limited}:${algorithms[0]!}:${bytes}`)!);
        const last = median(results.get(`${limited}:${algorithms[algorithms.length - 1]!}:${bytes}`)!);
        rows.push(
          `| ${ranks} | ${bytes / 1024 / 1024} MiB | ${linkName(limited)} | ${cells.join(' | ')} | ` +
            `${(first / last).toFixed(2)}× | ${bound.toFixed(1)} | ${starBound.toFixed(1)} | ${ratios.join(' | ')} |`,
        );
      }
    }
  } finally {
    await hosts.teardown();
  }
}

const rows: string[] = [];
for (const ranks of rankCounts) await measureRanks(ranks);
const first = algorithms[0]!;
const last = algorithms[algorithms.length - 1]!;
console.log(
  `tcp allreduce float64 sum on namespace hosts (one rank each); ms, median of ${ITERATIONS} calls per batch ` +
    `(slowest rank), then median of ${batches} batch(es) [each batch]; bound = 2(R−1)/R·n/rate, ` +
    `star bound = (R−1)·n/rate`,
);
console.log(
  `| Ranks | Size | Links | ${algorithms.join(' | ')} | ${first}/${last} | bound | star bound | ` +
    `${algorithms.map((a) => `${a}/bound`).join(' | ')} |`,
);
console.log(`|${' --- |'.repeat(6 + 2 * algorithms.length)}`);
for (const row of rows) console.log(row);
