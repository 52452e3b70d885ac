/**
 * tcp allreduce across namespace hosts (test/support/netns.ts): R ranks, one per network namespace,
 * float64 sum allreduce at each size, with the hosts' links unlimited and rate-limited with tbf,
 * alternated batch by batch in one world (A, B, A, B, …), beside the bandwidth bound 2·(R−1)/R·n/rate
 * of a bandwidth-optimal algorithm and the star's own bound (R−1)·n/rate (rank 0's link carries every
 * other rank's n in and the result out). Each batch also times one raw Node socket stream from host 1
 * to host 0, to show what a link carries on this machine now. Needs root and iproute2.
 * spec/performance.md §4.4.
 *
 *   npx tsx bench/hosts/main.ts [--quick] [--ranks 4] [--rate 1gbit] [--sizes 2097152,8388608] [--batches 3]
 */
import { createHosts, type Hosts } from '../../test/support/netns.js';
import { startWorld, type HostRank } from '../../test/hosts/world.js';

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
}
const quick = args.includes('--quick');
const ranks = Number(option('ranks', '4'));
const rate = option('rate', '1gbit');
const sizes = option('sizes', '2097152,8388608').split(',').map(Number);
const batches = Number(option('batches', quick ? '1' : '3'));
const ITERATIONS = quick ? 2 : 7;
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

const hosts = await createHosts({ count: ranks });
try {
  const world = startWorld(hosts, { scenario: 'measure', timeoutSecs: TIMEOUT_SECS });
  await Promise.all(world.map((r) => r.next('ready')));
  const results = new Map<string, number[]>(); // `${limited}:${bytes}` → per-batch medians (ms)
  for (let b = 0; b < batches; b++) {
    for (const limited of [false, true]) {
      for (const host of hosts.hosts)
        await (limited ? hosts.limit(host.index, rate) : hosts.unlimit(host.index));
      results.set(`${limited}:raw`, [...(results.get(`${limited}:raw`) ?? []), await rawStream(hosts)]);
      for (const bytes of sizes) {
        const key = `${limited}:${bytes}`;
        results.set(key, [...(results.get(key) ?? []), median(await batch(world, bytes))]);
      }
    }
  }
  for (const r of world) r.send({ type: 'close' });
  await Promise.all(world.map((r) => r.exited));
  const perSecond = bytesPerSecond(rate);
  const raw = (limited: boolean) =>
    results
      .get(`${limited}:raw`)!
      .map((v) => v.toFixed(1))
      .join(', ');
  console.log(`raw stream host 1 → host 0 (${RAW_BYTES >> 20} MiB, one Node socket), MB/s per batch:`);
  console.log(
    `  unlimited [${raw(false)}]; ${rate} tbf [${raw(true)}]; the rate is ${(perSecond / 1e6).toFixed(1)} MB/s`,
  );
  console.log(`tcp (star) allreduce float64 sum, ${ranks} ranks on ${ranks} namespace hosts; ms, median of`);
  console.log(
    `${ITERATIONS} calls per batch (slowest rank), then median of ${batches} batch(es) [each batch]`,
  );
  console.log(
    '| Size | unlimited | ' +
      rate +
      ' tbf | bound 2(R−1)/R·n/rate | star bound (R−1)·n/rate | ratio to bound |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const bytes of sizes) {
    const free = results.get(`false:${bytes}`)!;
    const limited = results.get(`true:${bytes}`)!;
    const bound = ((2 * (ranks - 1)) / ranks) * (bytes / perSecond) * 1000;
    const starBound = (ranks - 1) * (bytes / perSecond) * 1000;
    const show = (v: number[]) => `${median(v).toFixed(1)} [${v.map((x) => x.toFixed(1)).join(', ')}]`;
    const mib = `${bytes / 1024 / 1024} MiB`;
    console.log(
      `| ${mib} | ${show(free)} | ${show(limited)} | ${bound.toFixed(1)} | ${starBound.toFixed(1)} | ${(median(limited) / bound).toFixed(2)}× |`,
    );
  }
} finally {
  await hosts.teardown();
}
