// Where a large loopback round trip between two Node processes spends its time (issue 14 item 6,
// spec/performance.md §4.5): read and write strategies side by side in one run, alternating round by
// round, beside ../shared/baselines/tcp-roundtrip.mjs.
//
//   node bench/socket-floor.mjs [--quick] [--rounds N] [--sizes 65536,2097152,8388608] [--strategies 0,3]
// (--strategies: indices into STRATEGIES below)
//
// A round trip: the parent (the accepted socket, rank 0's side) writes n bytes; the child (the
// dialed socket, a worker's side) reads all n into one destination (the copy a frame reader's sink
// makes), then writes n back; the parent reads them into its destination. Printed per strategy and
// size: median µs per round trip, and per MiB moved (both directions, both sides summed): read
// callbacks, event-loop turns that ran at least one read callback, garbage collections.
import net from 'node:net';
import { fork, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const KiB = 1024;
const MiB = 1024 * KiB;
const BASELINE = fileURLToPath(new URL('../../shared/baselines/tcp-roundtrip.mjs', import.meta.url));
/** Warm-up round trips per size, not timed. */
const WARMUP = 2;
/** A slab's tail shorter than this is not offered to a read: a fresh slab is (owned reads). */
const SLAB_MIN_TAIL = 64 * KiB;

/**
 * Strategies. read: 'data' ('data' events: Node allocates a 64 KiB buffer per read), 'static'
 * (onread into one reused buffer of `buffer` bytes: the bytes are borrowed), 'slab' (onread into the
 * unused tail of a `buffer`-byte slab, a new slab when it is used up: the bytes stay owned). write:
 * 'one' (one buffer per message) or 'pieces' (64 KiB pieces in one cork/uncork: one writev).
 */
const STRATEGIES = [
  { name: 'data (64 KiB reads), one write', read: 'data', write: 'one', noDelay: true },
  { name: 'data, server highWaterMark 4 MiB', read: 'data', write: 'one', noDelay: true, hwm: 4 * MiB },
  { name: 'onread static 64 KiB', read: 'static', buffer: 64 * KiB, write: 'one', noDelay: true },
  { name: 'onread static 256 KiB', read: 'static', buffer: 256 * KiB, write: 'one', noDelay: true },
  { name: 'onread static 1 MiB', read: 'static', buffer: MiB, write: 'one', noDelay: true },
  { name: 'onread static 4 MiB', read: 'static', buffer: 4 * MiB, write: 'one', noDelay: true },
  { name: 'onread slab 4 MiB (owned)', read: 'slab', buffer: 4 * MiB, write: 'one', noDelay: true },
  { name: 'onread static 1 MiB, 64 KiB pieces', read: 'static', buffer: MiB, write: 'pieces', noDelay: true },
  { name: 'onread static 1 MiB, Nagle on', read: 'static', buffer: MiB, write: 'one', noDelay: false },
];

const argv = process.argv.slice(2);
const flag = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes('--quick');

/** Counts read callbacks, the loop turns they ran in, and GCs, for one process. */
class Counters {
  reads = 0;
  turns = 0;
  gcs = 0;
  #turnOpen = false;
  #observer = new PerformanceObserver((list) => (this.gcs += list.getEntries().length));
  constructor() {
    this.#observer.observe({ entryTypes: ['gc'] });
  }
  read() {
    this.reads++;
    if (this.#turnOpen) return;
    this.#turnOpen = true;
    this.turns++;
    setImmediate(() => (this.#turnOpen = false));
  }
  reset() {
    this.reads = this.turns = this.gcs = 0;
  }
  snapshot() {
    return { reads: this.reads, turns: this.turns, gcs: this.gcs };
  }
  stop() {
    this.#observer.disconnect();
  }
}

/**
 * Wires `strategy`'s reads: returns socket options for connect (onread) and `attach(socket)`;
 * every received chunk goes to `receiver.onChunk(chunk)`.
 */
function reader(strategy, counters, receiver) {
  const deliver = (chunk) => {
    counters.read();
    receiver.onChunk(chunk);
  };
  if (strategy.read === 'data') return { options: {}, attach: (s) => s.on('data', deliver) };
  if (strategy.read === 'static') {
    const buffer = Buffer.allocUnsafe(strategy.buffer);
    const onread = { buffer, callback: (n, b) => void deliver(b.subarray(0, n)) };
    return { options: { onread }, attach: () => {} };
  }
  let slab = Buffer.allocUnsafe(strategy.buffer);
  let at = 0;
  const onread = {
    buffer: () => {
      if (slab.length - at < SLAB_MIN_TAIL) {
        slab = Buffer.allocUnsafe(strategy.buffer);
        at = 0;
      }
      return slab.subarray(at);
    },
    callback: (n, b) => {
      at += n;
      deliver(b.subarray(0, n));
    },
  };
  return { options: { onread }, attach: () => {} };
}

/**
 * An accepted socket takes no onread in Node 20: move its handle into a new Socket that does (the
 * handle has not read yet inside 'connection'). Same trick as src/backends/tcp/net-link.ts.
 */
function adopt(accepted, options, server) {
  const handle = accepted._handle;
  if (!options.onread || !handle) return accepted;
  handle.readStop();
  handle.reading = false;
  accepted._handle = null;
  accepted._server = null;
  const socket = new net.Socket({ handle, onread: options.onread, readable: true, writable: true });
  socket._server = server;
  socket.server = server;
  return socket;
}

function writeMessage(socket, strategy, message) {
  if (strategy.write === 'one') return void socket.write(message);
  socket.cork();
  for (let at = 0; at < message.length; at += 64 * KiB) socket.write(message.subarray(at, at + 64 * KiB));
  socket.uncork();
}

/** Collects exactly `bytes` into `destination`, then calls `done` (chunks never cross messages). */
function collector() {
  const state = { need: 0, got: 0, destination: null, done: null };
  return {
    expect(destination, done) {
      state.destination = destination;
      state.need = destination.length;
      state.got = 0;
      state.done = done;
    },
    onChunk(chunk) {
      state.destination.set(chunk, state.got);
      state.got += chunk.length;
      if (state.got === state.need) state.done();
    },
  };
}

async function child() {
  const { port, strategy, plan } = JSON.parse(argv[1]);
  const counters = new Counters();
  const receive = collector();
  const r = reader(strategy, counters, receive);
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: strategy.noDelay, ...r.options });
  r.attach(socket);
  socket.on('error', () => process.exit(1));
  for (const { bytes, count } of plan) {
    const destination = Buffer.allocUnsafe(bytes);
    const reply = Buffer.alloc(bytes, 5);
    for (let i = 0; i < count; i++) {
      await new Promise((resolve) => receive.expect(destination, resolve));
      writeMessage(socket, strategy, reply);
    }
    await new Promise((resolve) => process.once('message', resolve));
    process.send(counters.snapshot());
    counters.reset();
  }
  counters.stop();
  socket.end();
}

/** One round of `strategy` over every size: per size, µs per round trip and the counters per MiB. */
async function round(strategy, sizes, iterations) {
  const counters = new Counters();
  const receive = collector();
  const plan = sizes.map((bytes) => ({ bytes, count: WARMUP + iterations(bytes) }));
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true, highWaterMark: strategy.hwm });
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      const worker = fork(fileURLToPath(import.meta.url), [
        '--child',
        JSON.stringify({ port, strategy, plan }),
      ]);
      worker.once('exit', (code) => code !== 0 && reject(new Error(`child exited ${code}`)));
      server.once('connection', async (accepted) => {
        const r = reader(strategy, counters, receive);
        const socket = adopt(accepted, r.options, server);
        socket.setNoDelay(strategy.noDelay);
        r.attach(socket);
        socket.resume();
        const out = [];
        for (const { bytes, count } of plan) {
          const message = Buffer.alloc(bytes, 7);
          const destination = Buffer.allocUnsafe(bytes);
          const times = [];
          for (let i = 0; i < count; i++) {
            if (i === WARMUP) counters.reset();
            const t0 = process.hrtime.bigint();
            const back = new Promise((res) => receive.expect(destination, res));
            writeMessage(socket, strategy, message);
            await back;
            if (i >= WARMUP) times.push(Number(process.hrtime.bigint() - t0) / 1000);
          }
          const mine = counters.snapshot();
          const theirs = await new Promise((res) => {
            worker.once('message', res);
            worker.send('report');
          });
          const mib = (2 * bytes * (count - WARMUP)) / MiB;
          out.push({
            bytes,
            times,
            reads: (mine.reads + theirs.reads) / mib,
            turns: (mine.turns + theirs.turns) / mib,
            gcs: (mine.gcs + theirs.gcs) / mib,
          });
        }
        counters.stop();
        socket.end();
        server.close();
        worker.once('exit', () => resolve(out));
      });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function baseline(bytes, iterations) {
  if (!existsSync(BASELINE)) return null;
  const out = execFileSync(process.execPath, [BASELINE, String(bytes), String(8 * iterations)], {
    encoding: 'utf8',
  });
  const m = /roundtrip \d+ ([\d.]+)/.exec(out);
  return m ? Number(m[1]) : null;
}

/** µs to write one MiB into fresh memory (first touch: page faults) and into memory already touched. */
function memoryCost() {
  const fresh = [];
  const reused = [];
  const warm = Buffer.alloc(8 * MiB);
  const kept = []; // held, so no allocation reuses memory an earlier one touched
  for (let i = 0; i < 5; i++) {
    let t0 = process.hrtime.bigint();
    const fresh8 = Buffer.allocUnsafeSlow(8 * MiB);
    fresh8.fill(i);
    kept.push(fresh8);
    fresh.push(Number(process.hrtime.bigint() - t0) / 1000 / 8);
    t0 = process.hrtime.bigint();
    warm.fill(i);
    reused.push(Number(process.hrtime.bigint() - t0) / 1000 / 8);
  }
  return { fresh: median(fresh), reused: median(reused) };
}

async function main() {
  const sizes = (flag('--sizes') ?? '65536,2097152,8388608').split(',').map(Number);
  const rounds = Number(flag('--rounds') ?? (quick ? 2 : 3));
  const budget = quick ? 16 * MiB : 64 * MiB;
  const iterations = (bytes) => Math.max(4, Math.min(200, Math.floor(budget / bytes)));
  const only = flag('--strategies')?.split(',').map(Number);
  const chosen = only ? only.map((i) => STRATEGIES[i]).filter(Boolean) : STRATEGIES;
  const rows = new Map(); // name -> bytes -> {times, reads, turns, gcs}
  const add = (name, bytes, sample) => {
    if (!rows.has(name)) rows.set(name, new Map());
    const row = rows.get(name);
    if (!row.has(bytes)) row.set(bytes, { times: [], reads: [], turns: [], gcs: [] });
    const cell = row.get(bytes);
    cell.times.push(...sample.times);
    for (const k of ['reads', 'turns', 'gcs']) if (sample[k] !== undefined) cell[k].push(sample[k]);
  };
  for (let r = 0; r < rounds; r++) {
    for (const bytes of sizes) {
      const us = baseline(bytes, Math.max(1, Math.floor(iterations(bytes) / 2)));
      if (us !== null) add('baseline tcp-roundtrip.mjs (echo per chunk)', bytes, { times: [us] });
    }
    for (const strategy of chosen) {
      for (const cell of await round(strategy, sizes, iterations)) add(strategy.name, cell.bytes, cell);
    }
  }
  const memory = memoryCost();
  const sizeLabel = (b) => (b >= MiB ? `${b / MiB} MiB` : `${b / KiB} KiB`);
  console.log(`socket floor: ${rounds} rounds, node ${process.version}; µs per round trip (median);`);
  console.log(
    `writing 1 MiB: ${memory.fresh.toFixed(0)} µs into fresh memory, ${memory.reused.toFixed(0)} µs into memory already touched`,
  );
  console.log('per MiB moved (both sides): read callbacks / loop turns with reads / GCs');
  console.log(`| strategy | ${sizes.map((b) => `${sizeLabel(b)} µs | per MiB`).join(' | ')} |`);
  console.log(`|---|${sizes.map(() => '---:|---:').join('|')}|`);
  for (const [name, row] of rows) {
    const cells = sizes.map((b) => {
      const c = row.get(b);
      if (!c) return 'n/a | ';
      const per =
        c.reads.length > 0
          ? `${median(c.reads).toFixed(1)} / ${median(c.turns).toFixed(1)} / ${median(c.gcs).toFixed(2)}`
          : '';
      return `${median(c.times).toFixed(0)} | ${per}`;
    });
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
}

if (argv[0] === '--child') await child();
else await main();
