/**
 * Fuzzing (spec/backend-tcp.md §7.3): random and mutated bytes into the frame parser, into rank 0
 * while it forms a group and once it is formed, and into a worker from a fake rank 0. Never a crash
 * (vitest fails the run on any uncaught exception), never a hang (every collective settles), memory
 * bounded (the parser never holds more than one frame's limit).
 */
import { createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import { FrameReader } from '../../../src/backends/tcp/frame-reader.js';
import {
  Action,
  encodeBegin,
  FRAME_HEADER_BYTES,
  ProtocolError,
  Tag,
} from '../../../src/backends/tcp/protocol.js';
import { encodeFingerprint, fingerprint } from '../../../src/communicator/fingerprint.js';
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
    frame(Tag.BarrierGo, Buffer.alloc(4)),
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
