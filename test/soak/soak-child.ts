/**
 * The soak (issue 12), run by soak.test.ts in its own process with --expose-gc: each phase warms up,
 * takes a baseline (memory after gc, live handles by type), runs many iterations, and measures again.
 * Prints one JSON line per phase: { phase, iterations, before, after, warnings }. Bounded loops on
 * 127.0.0.1; the process ends by itself (a handle left open would keep it alive: the parent sees that).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { connectShm, createShmGroup } from '../../src/backends/shm/index.js';
import { connectTcp, type TcpOptions } from '../../src/backends/tcp/index.js';
import type { Communicator } from '../../src/communicator/communicator.js';

export interface Sample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /**
   * process.getActiveResourcesInfo() counted by type (TCPSocketWrap, TCPServerWrap, Timeout, …): the
   * handles that keep the process alive. An idle communicator unrefs its sockets, so those are
   * counted by file descriptor below.
   */
  handles: Record<string, number>;
  /** Open file descriptors by kind (socket, pipe, anon_inode, file) from /proc/self/fd; {} where absent. */
  fds: Record<string, number>;
}

export interface PhaseReport {
  phase: string;
  iterations: number;
  before: Sample;
  after: Sample;
  /** Warnings the backend emitted during the measured part (counted, never printed). */
  warnings: number;
}

const scale = Number(process.argv[2] ?? '1');
const SIZE = 3;
const TOKEN = 'soak-token';
const JOB = 'soak-job';
const TCP_BASE = { host: '127.0.0.1', timeoutSecs: 30, connectTimeoutSecs: 10, stallWarningSecs: 0 };
/** Event-loop turns after a close before sampling: lets 'close' callbacks of sockets run (not a timer). */
const SETTLE_TURNS = 20;
/** 1 MiB of float64 per rank per cycle (see check). */
const CYCLE_ELEMENTS = 128 * 1024;
/** At most this many more settles while sockets are still closing (see sample). */
const SETTLE_ROUNDS = 50;

let warnings = 0;
const onWarning = (): void => {
  warnings += 1;
};

function openFds(): Record<string, number> {
  const fds: Record<string, number> = {};
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return fds;
  }
  for (const name of names) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the descriptor readdir itself held
    }
    const kind = /^(socket|pipe|anon_inode):/.exec(target)?.[1] ?? 'file';
    fds[kind] = (fds[kind] ?? 0) + 1;
  }
  return fds;
}

async function settle(): Promise<void> {
  for (let turn = 0; turn < SETTLE_TURNS; turn++) await new Promise((r) => setImmediate(r));
}

/**
 * Memory and handles once the event loop has run the close callbacks already due. With `baseline`,
 * settles again (bounded) while more sockets are open than then: a peer's close may still be in
 * flight; a leaked socket stays.
 */
async function sample(baseline?: Sample): Promise<Sample> {
  await settle();
  for (
    let i = 0;
    baseline && i < SETTLE_ROUNDS && (openFds()['socket'] ?? 0) > (baseline.fds['socket'] ?? 0);
    i++
  ) {
    await settle();
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const handles: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) handles[type] = (handles[type] ?? 0) + 1;
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers, handles, fds: openFds() };
}

async function tcpGroup(options: Partial<TcpOptions> = {}): Promise<Communicator[]> {
  const { port, zero } = await new Promise<{ port: number; zero: Promise<Communicator> }>(
    (resolve, reject) => {
      const zero = connectTcp({
        ...TCP_BASE,
        ...options,
        onWarning,
        rank: 0,
        size: SIZE,
        port: 0,
        onListening: ({ port }) => resolve({ port, zero }),
      });
      zero.catch(reject);
    },
  );
  const workers = Array.from({ length: SIZE - 1 }, (_, i) =>
    connectTcp({ ...TCP_BASE, ...options, onWarning, rank: i + 1, size: SIZE, port }),
  );
  return Promise.all([zero, ...workers]);
}

async function shmGroup(): Promise<Communicator[]> {
  const group = createShmGroup({ size: SIZE });
  return Promise.all(
    Array.from({ length: SIZE }, (_, rank) =>
      connectShm({ group: group.handle, rank, timeoutSecs: 30, stallWarningSecs: 0 }),
    ),
  );
}

/**
 * One allreduce of `elements` float64s, checked. The cycles use CYCLE_ELEMENTS so each group's
 * buffers are really touched: a group kept alive after close() then shows in rss or arrayBuffers
 * (shm's data region is WebAssembly memory, counted by neither until its pages are written).
 */
async function check(comms: Communicator[], elements = 1): Promise<void> {
  const sums = await Promise.all(comms.map((c) => c.allreduce(new Float64Array(elements).fill(c.rank + 1))));
  for (const s of sums) {
    if (s[0] !== (SIZE * (SIZE + 1)) / 2 || s[elements - 1] !== s[0]) throw new Error(`wrong sum ${s[0]}`);
  }
}

async function phase(name: string, iterations: number, warmUp: number, body: (i: number) => Promise<void>) {
  for (let i = 0; i < warmUp; i++) await body(i);
  const before = await sample();
  warnings = 0;
  for (let i = 0; i < iterations; i++) await body(i);
  const after = await sample(before);
  const report: PhaseReport = { phase: name, iterations, before, after, warnings };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** Thousands of small collectives on one tcp group of 3 ranks in this process. */
async function smallCollectives(): Promise<void> {
  const comms = await tcpGroup();
  const data = new Float64Array(16);
  await phase('tcp small collectives', 1000 * scale, 100, async (i) => {
    data.fill(i);
    await Promise.all(comms.map((c) => c.allreduce(data)));
    await Promise.all(comms.map((c) => c.bcast(c.rank === i % SIZE ? data : new Float64Array(16), i % SIZE)));
    await Promise.all(comms.map((c) => c.barrier()));
  });
  await Promise.all(comms.map((c) => c.close()));
}

/** Whole groups formed, used once and closed, over and over. */
async function cycles(): Promise<void> {
  await phase('tcp init/close cycles', 60 * scale, 5, async () => {
    const comms = await tcpGroup();
    await check(comms, CYCLE_ELEMENTS);
    await Promise.all(comms.map((c) => c.close()));
  });
  await phase('shm init/close cycles', 60 * scale, 5, async () => {
    const comms = await shmGroup();
    await check(comms, CYCLE_ELEMENTS);
    await Promise.all(comms.map((c) => c.close()));
  });
}

/** A connection that sends `bytes` and resolves when rank 0 has closed it. */
function garbage(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end(bytes));
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => resolve());
  });
}

/** A worker that must be refused: resolves with the refusal, throws if it was admitted. */
async function refused(options: TcpOptions): Promise<void> {
  const joined = await connectTcp({ ...options, onWarning }).then(
    (comm) => comm,
    () => null,
  );
  if (joined !== null) throw new Error(`a worker with ${JSON.stringify(options)} was admitted`);
}

/** Wrong token, garbage, wrong job id: against a forming and then a formed rank 0. */
async function failedAdmissions(): Promise<void> {
  const options = { ...TCP_BASE, token: TOKEN, jobId: JOB };
  const zeroReady = await new Promise<{ port: number; zero: Promise<Communicator> }>((resolve, reject) => {
    const zero = connectTcp({
      ...options,
      onWarning,
      rank: 0,
      size: SIZE,
      port: 0,
      onListening: ({ port }) => resolve({ port, zero }),
    });
    zero.catch(reject);
  });
  const { port } = zeroReady;
  const one = connectTcp({ ...options, onWarning, rank: 1, size: SIZE, port });
  const bad = async (i: number): Promise<void> => {
    const rank = 1 + (i % (SIZE - 1));
    await refused({ ...options, token: `wrong-${i}`, rank, size: SIZE, port });
    await refused({ ...options, jobId: `other-job-${i}`, rank, size: SIZE, port });
    await garbage(port, Buffer.from(`GET / HTTP/1.1\r\nHost: soak-${i}\r\n\r\n`));
    await garbage(port, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01, i & 0xff]));
  };
  await phase('failed admissions, forming rank 0', 100 * scale, 10, bad);
  const comms = await Promise.all([
    zeroReady.zero,
    one,
    connectTcp({ ...options, onWarning, rank: 2, size: SIZE, port }),
  ]);
  await check(comms);
  await phase('failed admissions, formed rank 0', 100 * scale, 10, async (i) => {
    await bad(i);
    if (i % 20 === 0) await check(comms);
  });
  await check(comms);
  await Promise.all(comms.map((c) => c.close()));
}

const started = Date.now();
await smallCollectives();
await cycles();
await failedAdmissions();
const end = await sample();
process.stdout.write(`${JSON.stringify({ phase: 'end', handles: end.handles, ms: Date.now() - started })}\n`);
