/**
 * Fuzzing (spec/backend-tcp.md §7.3): random and mutated bytes into the frame parser, into rank 0
 * while it forms a group and once it is formed, and into a worker from a fake rank 0; and an insider
 * mode: a peer admitted with the real handshake that then sends well-formed abusive sequences (§5.4). Never a crash
 * (vitest fails the run on any uncaught exception), never a hang (every collective settles), memory
 * bounded (the parser never holds more than one frame's limit).
 */
import { createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import { FrameReader } from '../../../src/backends/star/frame-reader.js';
import {
  Action,
  DEFAULT_CHUNK_BYTES,
  encodeBegin,
  FRAME_HEADER_BYTES,
  ProtocolError,
  Tag,
} from '../../../src/backends/star/protocol.js';
import { encodeFingerprint, fingerprint } from '../../../src/communicator/fingerprint.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { connectWs } from '../../../src/backends/ws/index.js';
import { allreduceWords, Insider, tcpLink, wsLink, type InsiderLink } from './insider.js';
import { MemoryChild, stopMemoryChildren } from './memory-child.js';
import { BASE, frame, RawPeer, startRankZero } from './support.js';

const LIMIT = 1024;
const TAGS = Object.values(Tag);

const begin = (sequence: number, action: number, bytes: number): Buffer =>
  encodeBegin({
    sequence,
    action: action as never,
    fingerprint: encodeFingerprint(
      fingerprint('allreduce', { dtype: 'float64', count: bytes / 8, op: 'sum' }),
    ),
    contributionBytes: bytes,
  });

/** Frames a peer might send: valid ones, valid ones at the wrong time, and nonsense. */
const someFrame = fc.oneof(
  fc.constantFrom(
    frame(Tag.Begin, begin(0, Action.allreduce, 8)),
    frame(Tag.Begin, begin(5, Action.allreduce, 8)),
    frame(Tag.BarrierReady, begin(0, Action.barrier, 0)),
    frame(Tag.Begin, begin(0, Action.barrier, 0)),
    frame(Tag.AllreduceSend, Buffer.alloc(16)),
    frame(Tag.AllgathervSend, Buffer.alloc(8)),
    frame(Tag.Begin, Buffer.concat([begin(0, Action.allreduce, 8), Buffer.alloc(6 + 8)])),
    frame(Tag.BarrierGo, Buffer.alloc(4)),
    frame(Tag.Result, Buffer.alloc(4 + 8)),
    frame(Tag.Mismatch, Buffer.alloc(8)),
    frame(Tag.Handshake, Buffer.alloc(43)),
    frame(Tag.Ack),
    frame(Tag.Shutdown),
    Buffer.from([0xff, 0xff, 0xff, 0xff, Tag.Broadcast]),
    Buffer.from([0, 0, 0, 0, Tag.Ack]),
    Buffer.from([0, 0, 0, 1, 0x99]),
  ),
  fc
    .record({ tag: fc.constantFrom(...TAGS), payload: fc.uint8Array({ maxLength: 64 }) })
    .map(({ tag, payload }) => frame(tag, payload)),
  fc.uint8Array({ minLength: 1, maxLength: 32 }).map((b) => Buffer.from(b)),
);

/** A byte stream of frames, then mutated: bytes flipped, and cut short. */
const hostileStream = fc
  .record({
    frames: fc.array(someFrame, { minLength: 1, maxLength: 6 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.option(fc.nat()),
  })
  .map(({ frames, flips, cut }) => {
    const bytes = Buffer.concat(frames);
    for (const [at, value] of flips) bytes[at % bytes.length] = value;
    return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
  });

describe('fuzz: frame parser', () => {
  it('random chunks: only frames or ProtocolErrors, and never more than one frame held', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const reader = new FrameReader(() => {}, LIMIT);
        for (const chunk of chunks) {
          try {
            reader.push(Buffer.from(chunk));
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
            return;
          }
          expect(reader.bufferedBytes).toBeLessThanOrEqual(LIMIT + FRAME_HEADER_BYTES);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated frame streams split anywhere decode the same as whole, or fail the same way', () => {
    fc.assert(
      fc.property(hostileStream, fc.nat(), (bytes, at) => {
        const run = (chunks: Buffer[]): string => {
          const tags: number[] = [];
          const reader = new FrameReader((tag) => tags.push(tag), LIMIT);
          try {
            for (const c of chunks) reader.push(c);
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
            return `${tags.join(',')}!${(error as ProtocolError).code}`;
          }
          return tags.join(',');
        };
        const split = at % (bytes.length + 1);
        expect(run([bytes.subarray(0, split), bytes.subarray(split)])).toBe(run([bytes]));
      }),
      { numRuns: 2000 },
    );
  });
});

/** Settles a promise as 'ok' or its error code; a hang fails the test by its timeout. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
}

describe('fuzz: rank 0', () => {
  it('hostile connections while the group forms are dropped; the group forms and works', async () => {
    const warnings: string[] = [];
    const { port, comm } = await startRankZero(2, { onWarning: (m) => warnings.push(m) });
    const samples = fc.sample(hostileStream, 40);
    await Promise.all(
      samples.map(async (bytes) => {
        const peer = await RawPeer.open(port);
        peer.write(bytes);
        peer.socket.end();
        await peer.closed;
      }),
    );
    const [c0, c1] = await Promise.all([comm, connectTcp({ ...BASE, rank: 1, size: 2, port })]);
    const sums = await Promise.all([
      c0!.allreduce(new Float64Array([1])),
      c1!.allreduce(new Float64Array([1])),
    ]);
    expect(sums.map((s) => s[0])).toEqual([2, 2]);
    expect(warnings.length).toBeGreaterThan(0);
    await Promise.all([c0!.close(), c1!.close()]);
  });

  it('a member sending hostile frames ends its connection; rank 0 fails cleanly, never hangs', async () => {
    const outcomes = new Set<string>();
    for (const bytes of fc.sample(hostileStream, 25)) {
      const { port, comm } = await startRankZero(2, { timeoutSecs: 0.3, onWarning: () => {} });
      const peer = await RawPeer.open(port);
      peer.hello(1, 2);
      const c0 = await comm;
      await peer.next(Tag.Ack);
      const result = outcome(c0.allreduce(new Float64Array([1])));
      peer.write(bytes);
      const code = await result;
      expect(['ok', 'CollectiveFailed', 'CollectiveMismatch', 'Timeout']).toContain(code);
      outcomes.add(code);
      peer.socket.destroy();
      await c0.close();
    }
    expect(outcomes.has('CollectiveFailed')).toBe(true);
  });
});

describe('fuzz: a worker facing a hostile rank 0', () => {
  it('garbage after Ack fails the worker with CollectiveFailed naming rank 0 or a Timeout, never a crash', async () => {
    for (const bytes of fc.sample(hostileStream, 15)) {
      let peer: Socket | null = null;
      const server = createServer((socket) => {
        peer = socket;
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write(frame(Tag.Ack));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      const worker = await connectTcp({ ...BASE, rank: 1, size: 2, port, timeoutSecs: 0.2 });
      const result = outcome(worker.barrier());
      (peer as Socket | null)?.write(bytes);
      expect(['ok', 'CollectiveFailed', 'CollectiveMismatch', 'Timeout']).toContain(await result);
      await worker.close();
      (peer as Socket | null)?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

/** What an insider (an admitted peer) does to a group of 3 where rank 0 and rank 2 are honest. */
type Abuse =
  | { kind: 'ahead'; rounds: number; extra: number }
  | { kind: 'huge'; announcedMiB: number; sentMiB: number; sameFingerprint: boolean }
  | { kind: 'abandon'; chunks: number; cut: number }
  | { kind: 'never-started'; action: 'barrier' | 'broadcast' }
  | { kind: 'unanswered' }
  | { kind: 'begin-flood'; begins: number }
  | { kind: 'small-flood'; begins: number };

const INSIDER_MiB = 1024 * 1024;
/** 'ahead' rounds are 8 MiB: 24 or more of them held whole would pass the memory bound below. */
const AHEAD_ELEMENTS = INSIDER_MiB;
/** Honest collectives of the other kinds: 1 KiB. */
const SMALL_ELEMENTS = 128;
/** Rank 0's peak array buffers over every insider run: hold limit, staging, arrays, with a margin. */
const INSIDER_PEAK_BOUND_BYTES = 160 * INSIDER_MiB;
/**
 * Rank 0's peak JS heap over every insider run: 32 Ki queued Begins at most, with a margin. A peak
 * sampled every 5 ms includes garbage the GC has not collected yet: 31 MiB on a quiet machine,
 * 67–70 MiB under two full suites at once. Unbounded Begins reached 138 MiB; the ws link's receive
 * slicing, which lets the bound stop a flood mid-message, is tested directly in links.test.ts.
 */
const INSIDER_HEAP_BOUND_BYTES = 96 * INSIDER_MiB;
/** The insider's group has a token, so the insider's join walks the token challenge too. */
const INSIDER_TOKEN = 'fuzz-insider-token-0123456789abcdef';
/**
 * Honest ranks' timeout in insider runs (s): a stall is reported, never a hang. No abuse expects a
 * Timeout, so this only bounds a failure; 5 s was too short for rank 0 to work through a flood of
 * 200 k Begins while two full suites ran beside it (the honest barriers then failed).
 */
const INSIDER_TIMEOUT_SECS = 30;

const abuses: Record<Abuse['kind'], fc.Arbitrary<Abuse>> = {
  ahead: fc.record({
    kind: fc.constant('ahead' as const),
    rounds: fc.integer({ min: 1, max: 2 }),
    extra: fc.integer({ min: 24, max: 40 }),
  }),
  huge: fc.record({
    kind: fc.constant('huge' as const),
    announcedMiB: fc.integer({ min: 64, max: 1 << 20 }),
    sentMiB: fc.integer({ min: 8, max: 48 }),
    sameFingerprint: fc.boolean(),
  }),
  abandon: fc.record({
    kind: fc.constant('abandon' as const),
    chunks: fc.integer({ min: 2, max: 40 }),
    cut: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
  }),
  'never-started': fc.record({
    kind: fc.constant('never-started' as const),
    action: fc.constantFrom('barrier' as const, 'broadcast' as const),
  }),
  unanswered: fc.constant({ kind: 'unanswered' as const }),
  'begin-flood': fc.record({
    kind: fc.constant('begin-flood' as const),
    begins: fc.integer({ min: 150_000, max: 250_000 }),
  }),
  'small-flood': fc.record({
    kind: fc.constant('small-flood' as const),
    begins: fc.integer({ min: 40_000, max: 80_000 }),
  }),
};

/** What every honest rank may see for each abuse; 'ok' means correct sums too. */
const EXPECTED: Record<Abuse['kind'], string[]> = {
  ahead: ['ok'],
  huge: ['CollectiveMismatch', 'CollectiveFailed'],
  abandon: ['CollectiveFailed'],
  'never-started': ['CollectiveMismatch'],
  unanswered: ['none'],
  'begin-flood': ['ok'],
  'small-flood': ['ok'],
};

/** The insider's side of one abuse, written at once (views by reference: little memory here). */
async function abuse(insider: Insider, a: Abuse): Promise<void> {
  const chunk = DEFAULT_CHUNK_BYTES;
  if (a.kind === 'ahead') {
    const data = new Float64Array(AHEAD_ELEMENTS).fill(1);
    for (let s = 0; s < a.rounds + a.extra; s++) insider.allreduce(s, data, chunk);
  } else if (a.kind === 'huge') {
    const count = a.sameFingerprint ? SMALL_ELEMENTS : (a.announcedMiB * INSIDER_MiB) / 8;
    insider.begin(0, Action.allreduce, allreduceWords(count), a.announcedMiB * INSIDER_MiB);
    const block = new Float64Array(INSIDER_MiB / 8).fill(1);
    const prefix = allreducePrefix();
    const bytes = new Uint8Array(block.buffer);
    for (let i = 0; i < a.sentMiB * (INSIDER_MiB / chunk); i++)
      insider.send(Tag.AllreduceSend, prefix, bytes.subarray(0, chunk));
  } else if (a.kind === 'abandon') {
    const data = new Float64Array((a.chunks * chunk) / 8).fill(1);
    // Rank 0 and rank 2 call an allreduce of this size; the insider stops mid-frame and vanishes.
    insider.allreduce(0, data, chunk, Math.floor(a.cut * data.byteLength));
    await insider.link.drained();
    insider.link.destroy();
  } else if (a.kind === 'never-started') {
    if (a.action === 'barrier')
      insider.begin(0, Action.barrier, encodeFingerprint(fingerprint('barrier')), 0);
    else {
      const words = encodeFingerprint(fingerprint('broadcast', { dtype: 'float64', count: 4, root: 1 }));
      insider.begin(0, Action.broadcast, words, 32);
      insider.send(Tag.Broadcast, new Uint8Array(32));
    }
  } else if (a.kind === 'small-flood') {
    // Small allreduces far ahead, each with its data in its Begin (spec §2.5): data and the
    // per-contribution charge bound them together. The first two match the honest ranks' rounds.
    const data = new Float64Array(SMALL_ELEMENTS).fill(1);
    for (let s = 0; s < a.begins; s++) insider.smallAllreduce(s, data);
  } else if (a.kind === 'begin-flood') {
    // Empty barriers far ahead: no data, so only the per-contribution charge bounds them.
    const words = encodeFingerprint(fingerprint('barrier'));
    for (let s = 0; s < a.begins; s++) insider.begin(s, Action.barrier, words, 0);
  } else {
    insider.allreduce(0, new Float64Array(AHEAD_ELEMENTS).fill(1), chunk);
  }
}

function allreducePrefix(): Uint8Array {
  const words = allreduceWords(1);
  const prefix = new Uint8Array(8);
  prefix[0] = ((words[0] as number) >>> 16) & 0xff;
  prefix[1] = ((words[0] as number) >>> 8) & 0xff;
  return prefix;
}

/** Rank 2's loop: the same allreduces as rank 0; 'ok' only when every sum is right. */
async function honestRank(
  comm: Communicator,
  rounds: number,
  elements: number,
  expected: number,
): Promise<string> {
  try {
    for (let i = 0; i < rounds; i++) {
      const out = await comm.allreduce(new Float64Array(elements).fill(1));
      if (out[0] !== expected || out[elements - 1] !== expected) return `wrong sum ${out[0]}`;
    }
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

async function honestBarriers(comm: Communicator, rounds: number): Promise<string> {
  try {
    for (let i = 0; i < rounds; i++) await comm.barrier();
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** The two links of the star (spec/backend-tcp.md §11): the insider and rank 2 use the same one. */
const LINKS = [
  { name: 'tcp', link: (port: number) => tcpLink(port), connect: connectTcp },
  { name: 'ws', link: (port: number) => wsLink(`ws://127.0.0.1:${port}/`), connect: connectWs },
] as const satisfies ReadonlyArray<{
  name: 'tcp' | 'ws';
  link: (port: number) => Promise<InsiderLink>;
  connect: unknown;
}>;

describe.each(LINKS)('fuzz: an insider over $name (admitted, then abusive but well-formed)', (via) => {
  const children: MemoryChild[] = [];
  afterEach(() => stopMemoryChildren(children));

  it('rank 0 memory stays bounded; honest ranks get the right sums or a clear error, never a hang', async () => {
    const plan = [
      ...Object.values(abuses).map((arb) => fc.sample(arb, 1)[0] as Abuse),
      ...fc.sample(fc.oneof(...Object.values(abuses)), 2),
    ];
    // With a token: the insider holds it, as any member of the job does (spec §3.6).
    const child = new MemoryChild({
      scenario: 'coordinator',
      size: 3,
      timeoutSecs: INSIDER_TIMEOUT_SECS,
      token: INSIDER_TOKEN,
      backend: via.name,
    });
    children.push(child);
    for (const [i, a] of plan.entries()) {
      if (i > 0) child.child.send({ type: 'reform' });
      const { port } = (await child.next('listening')) as unknown as { port: number };
      const [insider, rank2] = await Promise.all([
        via.link(port).then((link) => Insider.join(link, { rank: 1, size: 3, token: INSIDER_TOKEN })),
        via.connect({
          ...BASE,
          rank: 2,
          size: 3,
          port,
          timeoutSecs: INSIDER_TIMEOUT_SECS,
          token: INSIDER_TOKEN,
        }),
        child.next('formed'),
      ]);
      const rounds =
        a.kind === 'ahead'
          ? a.rounds
          : a.kind === 'unanswered'
            ? 0
            : a.kind === 'begin-flood' || a.kind === 'small-flood'
              ? 2
              : 1;
      const elements =
        a.kind === 'ahead'
          ? AHEAD_ELEMENTS
          : a.kind === 'abandon'
            ? (a.chunks * DEFAULT_CHUNK_BYTES) / 8
            : SMALL_ELEMENTS;
      child.discard('paused');
      const done = abuse(insider, a);
      // Rank 0 reads ahead until it stops reading the insider, or has read everything (no bound).
      if (a.kind === 'ahead' || a.kind === 'begin-flood' || a.kind === 'small-flood')
        await Promise.race([child.next('paused'), insider.link.drained()]);
      let outcomes = ['none', 'none'];
      if (rounds > 0) {
        const barriers = a.kind === 'begin-flood';
        child.child.send(barriers ? { type: 'barriers', rounds } : { type: 'run', rounds, elements });
        const [ran, honest] = await Promise.all([
          child.next('ran'),
          barriers ? honestBarriers(rank2, rounds) : honestRank(rank2, rounds, elements, 3),
        ]);
        const r0 = ran as unknown as { ok: boolean; sums: number[]; error?: string };
        const zero = r0.ok ? (r0.sums.every((s) => s === 3) ? 'ok' : `wrong sums`) : (r0.error ?? '?');
        outcomes = [zero, honest];
      }
      await done;
      expect({ abuse: a, outcomes }).toEqual({
        abuse: a,
        outcomes: outcomes.map(() => expect.toBeOneOf(EXPECTED[a.kind])),
      });
      insider.link.destroy();
      await rank2.close();
    }
    const { peak } = await child.memory();
    expect(peak.arrayBuffers, `rank 0 peak ${(peak.arrayBuffers / INSIDER_MiB).toFixed(0)} MiB`).toBeLessThan(
      INSIDER_PEAK_BOUND_BYTES,
    );
    // Begins alone: the per-contribution charge stops them (138 MiB of heap before it).
    expect(peak.heapUsed, `rank 0 heap peak ${(peak.heapUsed / INSIDER_MiB).toFixed(0)} MiB`).toBeLessThan(
      INSIDER_HEAP_BOUND_BYTES,
    );
    child.child.send({ type: 'close' });
    expect(await child.exited, child.stderr).toBe(0);
  });
});
