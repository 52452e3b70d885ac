/**
 * Version 4's small path (spec/backend-tcp.md §2.5): a contribution of at most `smallBytes` rides in
 * its Begin, and a worker's result of at most `smallBytes` comes in one Result frame that is also the
 * Go; above it, data frames and a separate Go. Every dtype at smallBytes − one element, smallBytes and
 * smallBytes + one element: the codec, rank 0's frames to a hand-driven rank 1, a worker's frames to a
 * hand-driven rank 0, and whole groups (tcp and ws) whose results must be bit-identical to
 * reduceRankOrder on both paths.
 */
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import { connectWs } from '../../../src/backends/ws/index.js';
import { FrameReader } from '../../../src/backends/star/frame-reader.js';
import {
  Action,
  BEGIN_DATA_OFFSET,
  BEGIN_DATA_PAD,
  BEGIN_PAYLOAD_BYTES,
  decodeBegin,
  encodeBegin,
  encodeSequence,
  MAX_FRAME_PAYLOAD,
  ProtocolError,
  Tag,
  tagName,
} from '../../../src/backends/star/protocol.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { bytesOf, DTYPES, type DType, type NumericArray } from '../../../src/communicator/dtypes.js';
import { encodeFingerprint, fingerprint } from '../../../src/communicator/fingerprint.js';
import { reduceRankOrder } from '../../../src/communicator/reduce.js';
import { Insider, tcpLink } from './insider.js';
import { BASE, closeAll, frame, startRankZero } from './support.js';

/** The threshold of these tests (bytes): a multiple of every element size. */
const SMALL = 64;

/** Element counts whose byte sizes are SMALL − one element, SMALL and SMALL + one element. */
function boundaryCounts(dtype: DType): Array<{ count: number; small: boolean }> {
  const at = SMALL / dtype.bytes;
  return [
    { count: at - 1, small: true },
    { count: at, small: true },
    { count: at + 1, small: false },
  ];
}

/** Rank r's values: distinct per rank and element, small enough that no dtype overflows a sum of 3. */
function valuesOf(dtype: DType, count: number, rank: number): NumericArray {
  const out = new dtype.ctor(count);
  for (let i = 0; i < count; i++) {
    const v = ((i * 7 + rank * 3) % 40) + (dtype.float ? 0.25 * rank : 0);
    (out as unknown as Array<number | bigint>)[i] = dtype.bigint ? BigInt(Math.floor(v)) : v;
  }
  return out;
}

function expectedSum(dtype: DType, count: number, size: number): Uint8Array {
  const out = new dtype.ctor(count);
  const parts = Array.from({ length: size }, (_, r) => valuesOf(dtype, count, r));
  reduceRankOrder(out, parts, 'sum');
  return bytesOf(out);
}

const allreduceWords = (dtype: DType, count: number): Int32Array =>
  encodeFingerprint(fingerprint('allreduce', { dtype: dtype.name, count, op: 'sum' }));

describe('codec: a Begin that carries its data', () => {
  const words = allreduceWords(DTYPES[0] as DType, 2);
  const fields = encodeBegin({
    sequence: 7,
    action: Action.allreduce,
    fingerprint: words,
    contributionBytes: 16,
  });
  const data = Buffer.from(Array.from({ length: 16 }, (_, i) => i + 1));

  it('decodes the data as a view after the padding; a plain Begin has none', () => {
    const begin = decodeBegin(Buffer.concat([fields, BEGIN_DATA_PAD, data]));
    expect(begin.sequence).toBe(7);
    expect(begin.contributionBytes).toBe(16);
    expect(Buffer.from(begin.data as Buffer)).toEqual(data);
    expect(BEGIN_DATA_OFFSET).toBe(BEGIN_PAYLOAD_BYTES + BEGIN_DATA_PAD.byteLength);
    expect(decodeBegin(fields).data).toBeNull();
  });

  it('rejects a carried length that differs from the announced one, short payloads and a nonzero pad', () => {
    const bad = [
      Buffer.concat([fields, BEGIN_DATA_PAD, data.subarray(0, 15)]),
      Buffer.concat([fields, BEGIN_DATA_PAD, data, Buffer.alloc(1)]),
      ...Array.from({ length: BEGIN_DATA_OFFSET - BEGIN_PAYLOAD_BYTES }, (_, n) =>
        Buffer.concat([fields, Buffer.alloc(n + 1)]),
      ),
      Buffer.concat([fields, Buffer.from([0, 0, 0, 1, 0, 0]), data]),
    ];
    for (const payload of bad) {
      expect(() => decodeBegin(payload), `${payload.length} bytes`).toThrow(ProtocolError);
      expect(() => decodeBegin(payload)).toThrow(/BAD_PAYLOAD/);
    }
  });
});

describe('rank 0 answers a small result with one Result frame, a large one with data and Go', () => {
  let zero: Communicator | null = null;
  let insider: Insider | null = null;
  afterEach(async () => {
    insider?.link.destroy();
    await zero?.close();
    zero = null;
    insider = null;
  });

  it('every dtype at smallBytes − 1 element, smallBytes, smallBytes + 1 element', async () => {
    const { port, comm } = await startRankZero(2, { smallBytes: SMALL, chunkBytes: 1024 });
    [insider, zero] = await Promise.all([
      tcpLink(port).then((link) => Insider.join(link, { rank: 1, size: 2 })),
      comm,
    ]);
    let sequence = 0;
    for (const dtype of DTYPES) {
      for (const { count, small } of boundaryCounts(dtype)) {
        const mine = bytesOf(valuesOf(dtype, count, 1));
        const words = allreduceWords(dtype, count);
        const fields = encodeBegin({
          sequence,
          action: Action.allreduce,
          fingerprint: words,
          contributionBytes: mine.byteLength,
        });
        // Rank 0 takes either form; the insider sends the one a worker with this threshold would.
        if (small) insider.send(Tag.Begin, fields, BEGIN_DATA_PAD, mine);
        else {
          insider.send(Tag.Begin, fields);
          const prefix = new Uint8Array(8);
          prefix[0] = ((words[0] as number) >>> 16) & 0xff;
          prefix[1] = ((words[0] as number) >>> 8) & 0xff;
          insider.send(Tag.AllreduceSend, prefix, mine);
        }
        const start = insider.frames.length;
        const ends = small ? Tag.Result : Tag.BarrierGo;
        const endsBefore = insider.frames.filter((f) => f.tag === ends).length;
        const recv = await zero.allreduce(valuesOf(dtype, count, 0), 'sum');
        const expected = expectedSum(dtype, count, 2);
        expect(Buffer.from(bytesOf(recv)), `${dtype.name} × ${count} at rank 0`).toEqual(
          Buffer.from(expected),
        );
        await insider.count(ends, endsBefore + 1);
        const frames = insider.frames.slice(start);
        const what = `${dtype.name} × ${count}: ${frames.map((f) => tagName(f.tag)).join(', ')}`;
        if (small) {
          expect(
            frames.map((f) => f.tag),
            what,
          ).toEqual([Tag.Result]);
          const payload = frames[0]!.payload as Buffer;
          expect(payload.readUInt32BE(0)).toBe(sequence);
          expect(Buffer.from(payload.subarray(4)), what).toEqual(Buffer.from(expected));
        } else {
          expect(
            frames.map((f) => f.tag),
            what,
          ).toEqual([Tag.AllreduceRecv, Tag.BarrierGo]);
          expect(Buffer.from(frames[0]!.payload as Buffer), what).toEqual(Buffer.from(expected));
          expect((frames[1]!.payload as Buffer).readUInt32BE(0)).toBe(sequence);
        }
        sequence++;
      }
    }
  });
});

/** A hand-driven rank 0 for one worker: answers the handshake, then records the worker's frames. */
class FakeRankZero {
  readonly frames: Array<{ tag: number; payload: Buffer }> = [];
  #socket: Socket | null = null;
  #waiters: Array<() => void> = [];
  readonly #server = createServer((socket) => {
    this.#socket = socket;
    socket.on('error', () => {});
    const reader = new FrameReader((tag, payload) => {
      if (tag === Tag.Handshake) socket.write(frame(Tag.Ack));
      else this.frames.push({ tag, payload: Buffer.from(payload) });
      for (const w of this.#waiters.splice(0)) w();
    }, MAX_FRAME_PAYLOAD);
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as { port: number }).port;
  }

  write(bytes: Uint8Array): void {
    this.#socket?.write(bytes);
  }

  /** Resolves once `n` frames (after the handshake) have arrived. */
  async frameCount(n: number): Promise<void> {
    while (this.frames.length < n) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#socket?.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('a worker sends a small contribution in its Begin and takes a Result as data and Go', () => {
  let fake: FakeRankZero | null = null;
  let worker: Communicator | null = null;
  afterEach(async () => {
    await worker?.close();
    await fake?.close();
    worker = null;
    fake = null;
  });

  it('every dtype at smallBytes − 1 element, smallBytes, smallBytes + 1 element', async () => {
    fake = new FakeRankZero();
    const port = await fake.listen();
    worker = await connectTcp({ ...BASE, rank: 1, size: 2, port, smallBytes: SMALL, chunkBytes: 1024 });
    let sequence = 0;
    for (const dtype of DTYPES) {
      for (const { count, small } of boundaryCounts(dtype)) {
        const mine = bytesOf(valuesOf(dtype, count, 1));
        const start = fake.frames.length;
        const call = worker.allreduce(valuesOf(dtype, count, 1), 'sum');
        await fake.frameCount(start + (small ? 1 : 2));
        const sent = fake.frames.slice(start);
        const what = `${dtype.name} × ${count}: ${sent.map((f) => tagName(f.tag)).join(', ')}`;
        const begin = decodeBegin(sent[0]!.payload);
        expect(sent[0]!.tag, what).toBe(Tag.Begin);
        expect(begin.sequence).toBe(sequence);
        expect(begin.contributionBytes).toBe(mine.byteLength);
        if (small) {
          expect(sent.length, what).toBe(1);
          expect(Buffer.from(begin.data as Buffer), what).toEqual(Buffer.from(mine));
        } else {
          expect(begin.data, what).toBeNull();
          expect(sent[1]!.tag, what).toBe(Tag.AllreduceSend);
          expect(Buffer.from(sent[1]!.payload.subarray(8)), what).toEqual(Buffer.from(mine));
        }
        // The worker takes either answer, whatever its threshold: a Result (data and Go) for the small
        // sizes, AllreduceRecv then Go for the others.
        const expected = expectedSum(dtype, count, 2);
        const go = encodeSequence(sequence);
        if (small) fake.write(frame(Tag.Result, Buffer.concat([go, expected])));
        else fake.write(Buffer.concat([frame(Tag.AllreduceRecv, expected), frame(Tag.BarrierGo, go)]));
        expect(Buffer.from(bytesOf(await call)), what).toEqual(Buffer.from(expected));
        sequence++;
      }
    }
  });

  it('a Result with more data than the call expects fails the worker naming rank 0', async () => {
    fake = new FakeRankZero();
    const port = await fake.listen();
    worker = await connectTcp({ ...BASE, rank: 1, size: 2, port, smallBytes: SMALL });
    const call = worker.allreduce(new Float64Array(2), 'sum').catch((e: unknown) => e);
    await fake.frameCount(1);
    fake.write(frame(Tag.Result, Buffer.concat([encodeSequence(0), Buffer.alloc(24)])));
    const error = (await call) as { code?: string; message?: string };
    expect(error.code).toBe('CollectiveFailed');
    expect(error.message).toMatch(/rank 0/);
  });
});

const GROUPS = [
  { name: 'tcp', connect: connectTcp },
  { name: 'ws', connect: connectWs },
] as const;

describe.each(GROUPS)('$name: both paths give the same bits (3 ranks)', ({ connect }) => {
  let comms: Communicator[] = [];
  afterEach(async () => {
    await closeAll(comms);
    comms = [];
  });

  async function group(smallBytes: number): Promise<Communicator[]> {
    const options = { ...BASE, size: 3, smallBytes, chunkBytes: 1024, host: '127.0.0.1' };
    return new Promise((resolve, reject) => {
      const zero = connect({
        ...options,
        rank: 0,
        port: 0,
        onListening: ({ port }) => {
          const workers = [1, 2].map((rank) => connect({ ...options, rank, port }));
          Promise.all([zero, ...workers]).then(resolve, reject);
        },
      });
      zero.catch(reject);
    });
  }

  it('allreduce, allgatherv and broadcast at the boundary, every dtype, small path on and off', async () => {
    for (const smallBytes of [SMALL, 0]) {
      comms = await group(smallBytes);
      for (const dtype of DTYPES) {
        for (const { count } of boundaryCounts(dtype)) {
          const what = `${dtype.name} × ${count}, smallBytes ${smallBytes}`;
          const sums = await Promise.all(
            comms.map((c) => c.allreduce(valuesOf(dtype, count, c.rank), 'sum')),
          );
          for (const sum of sums)
            expect(Buffer.from(bytesOf(sum)), what).toEqual(Buffer.from(expectedSum(dtype, count, 3)));
          // allgatherv: rank r's block is r + count elements, so blocks cross the threshold unevenly.
          const counts = [0, 1, 2].map((r) => count + r - 1);
          const displs = counts.map((_, r) => counts.slice(0, r).reduce((a, b) => a + b, 0));
          const total = counts.reduce((a, b) => a + b, 0);
          const gathered = await Promise.all(
            comms.map((c) => {
              const recv = new dtype.ctor(total);
              return c
                .allgatherv(valuesOf(dtype, counts[c.rank]!, c.rank), { counts, displs, recv })
                .then(() => recv);
            }),
          );
          const expected = new dtype.ctor(total);
          for (let r = 0; r < 3; r++)
            (expected as Float64Array).set(valuesOf(dtype, counts[r]!, r) as Float64Array, displs[r]);
          for (const g of gathered)
            expect(Buffer.from(bytesOf(g)), what).toEqual(Buffer.from(bytesOf(expected)));
          for (const root of [0, 2]) {
            const bufs = comms.map((c) =>
              c.rank === root ? valuesOf(dtype, count, root) : new dtype.ctor(count),
            );
            await Promise.all(comms.map((c, r) => c.broadcast(bufs[r]!, root)));
            for (const b of bufs)
              expect(Buffer.from(bytesOf(b)), `${what}, root ${root}`).toEqual(
                Buffer.from(bytesOf(valuesOf(dtype, count, root))),
              );
          }
        }
      }
      await closeAll(comms);
      comms = [];
    }
  });
});
