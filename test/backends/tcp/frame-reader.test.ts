/**
 * The frame codec (spec/backend-tcp.md §2): every frame split at every offset decodes identically,
 * lengths over the limit are rejected on the header before any payload is buffered, and every
 * malformed input is a ProtocolError with a code.
 */
import { describe, expect, it } from 'vitest';
import { encodeFingerprint, fingerprint } from '../../../src/communicator/fingerprint.js';
import { FrameReader } from '../../../src/backends/star/frame-reader.js';
import {
  decodeHello,
  encodeHello,
  HANDSHAKE_FIXED_BYTES,
  newNonce,
} from '../../../src/backends/star/handshake.js';
import {
  Action,
  decodeAbort,
  decodeBegin,
  decodeMismatch,
  decodeSilentRanks,
  encodeAbort,
  encodeBegin,
  encodeMismatch,
  encodeSilentRanks,
  FRAME_HEADER_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  Tag,
} from '../../../src/backends/star/protocol.js';
import { frame } from './support.js';

type Decoded = Array<{ tag: number; payload: number[] }>;

function decodeChunks(chunks: Buffer[], maxPayload = 1 << 20): Decoded {
  const out: Decoded = [];
  const reader = new FrameReader(
    (tag, payload) => out.push({ tag, payload: Array.from(payload) }),
    maxPayload,
  );
  for (const c of chunks) reader.push(c);
  expect(reader.bufferedBytes).toBe(0);
  return out;
}

function codeOf(run: () => void): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return undefined;
}

const begin = encodeBegin({
  sequence: 7,
  action: Action.allreduce,
  fingerprint: encodeFingerprint(fingerprint('allreduce', { dtype: 'float64', count: 3, op: 'sum' })),
  contributionBytes: 24,
});
const SAMPLES: Buffer[] = [
  frame(Tag.BarrierGo, Buffer.from([0, 0, 0, 9])),
  frame(Tag.Begin, begin),
  frame(Tag.AllreduceSend, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])),
  frame(Tag.Shutdown),
  frame(Tag.Abort, encodeAbort(3, 'gone')),
  frame(Tag.AllgathervRecv, Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff))),
];
const STREAM = Buffer.concat(SAMPLES);
const EXPECTED = decodeChunks([STREAM]);

describe('FrameReader: incremental decoding', () => {
  it('decodes a stream of frames of several tags', () => {
    expect(EXPECTED.map((f) => f.tag)).toEqual([
      Tag.BarrierGo,
      Tag.Begin,
      Tag.AllreduceSend,
      Tag.Shutdown,
      Tag.Abort,
      Tag.AllgathervRecv,
    ]);
    expect(EXPECTED[3]!.payload).toEqual([]);
  });

  it('every split point of the stream decodes identically', () => {
    for (let at = 0; at <= STREAM.length; at++) {
      expect(decodeChunks([STREAM.subarray(0, at), STREAM.subarray(at)])).toEqual(EXPECTED);
    }
  });

  it('every pair of split points decodes identically', () => {
    for (let a = 0; a <= STREAM.length; a += 3) {
      for (let b = a; b <= STREAM.length; b += 5) {
        expect(decodeChunks([STREAM.subarray(0, a), STREAM.subarray(a, b), STREAM.subarray(b)])).toEqual(
          EXPECTED,
        );
      }
    }
  });

  it('chunks borrowed from one reused read buffer decode identically, split at every offset', () => {
    for (let size = 1; size <= 40; size += 3) {
      const out: Decoded = [];
      const reader = new FrameReader(
        (tag, payload) => out.push({ tag, payload: Array.from(payload) }),
        1 << 20,
      );
      const shared = Buffer.alloc(size);
      for (let at = 0; at < STREAM.length; at += size) {
        const n = STREAM.copy(shared, 0, at, Math.min(STREAM.length, at + size));
        reader.push(shared.subarray(0, n), true);
        shared.fill(0xee); // the socket reuses its buffer for the next read
      }
      expect(out).toEqual(EXPECTED);
    }
  });

  it('byte by byte decodes identically', () => {
    expect(decodeChunks(Array.from(STREAM, (_, i) => STREAM.subarray(i, i + 1)))).toEqual(EXPECTED);
  });

  it('a payload in one chunk is handed over without a copy', () => {
    const bytes = frame(Tag.Broadcast, Buffer.from([1, 2, 3]));
    let seen: Buffer | null = null;
    new FrameReader((_t, payload) => void (seen = payload), 100).push(bytes);
    expect(seen!.buffer).toBe(bytes.buffer);
  });

  it('a sink receives the payload directly, split at every offset', () => {
    const payload = Buffer.from(Array.from({ length: 64 }, (_, i) => 255 - i));
    const bytes = Buffer.concat([
      frame(Tag.AllreduceRecv, payload),
      frame(Tag.BarrierGo, Buffer.from([0, 0, 0, 1])),
    ]);
    for (let at = 0; at <= bytes.length; at++) {
      const destination = new Uint8Array(80).fill(9);
      const events: Array<[number, boolean]> = [];
      const reader = new FrameReader((tag, _p, placed) => events.push([tag, placed]), 1000);
      reader.sink = (tag, n) => (tag === Tag.AllreduceRecv ? destination.subarray(8, 8 + n) : null);
      reader.push(bytes.subarray(0, at));
      reader.push(bytes.subarray(at));
      expect(events).toEqual([
        [Tag.AllreduceRecv, true],
        [Tag.BarrierGo, false],
      ]);
      expect(Array.from(destination.subarray(8, 72))).toEqual(Array.from(payload));
      expect(Array.from(destination.subarray(0, 8))).toEqual(new Array(8).fill(9));
    }
  });
});

describe('FrameReader: malformed input', () => {
  const header = (length: number, tag: number): Buffer => {
    const h = Buffer.alloc(FRAME_HEADER_BYTES);
    h.writeUInt32BE(length >>> 0, 0);
    h.writeUInt8(tag, 4);
    return h;
  };

  it('rejects a length over the limit on the header, before buffering any payload', () => {
    for (const length of [102, 0xffff_ffff, 2 ** 31]) {
      const reader = new FrameReader(() => expect.fail('no frame'), 100);
      expect(codeOf(() => reader.push(header(length, Tag.AllgathervSend)))).toBe('FRAME_TOO_LARGE');
      expect(reader.bufferedBytes).toBe(0);
      // Later bytes are refused too: the connection is over.
      expect(codeOf(() => reader.push(Buffer.alloc(1000)))).toBe('FRAME_TOO_LARGE');
      expect(reader.bufferedBytes).toBe(0);
    }
  });

  it('accepts a payload of exactly the limit', () => {
    const got = decodeChunks([frame(Tag.Broadcast, Buffer.alloc(100, 1))], 100);
    expect(got[0]!.payload.length).toBe(100);
  });

  it('rejects length 0 (no room for the tag) and unknown tags', () => {
    expect(codeOf(() => new FrameReader(() => {}, 100).push(header(0, Tag.Ack)))).toBe('FRAME_TOO_SHORT');
    for (const tag of [0x00, 0x20, 0x7f, 0xff]) {
      expect(codeOf(() => new FrameReader(() => {}, 100).push(header(1, tag)))).toBe('UNKNOWN_TAG');
    }
  });

  it('a truncated frame yields nothing and holds only its own bytes', () => {
    const out: number[] = [];
    const reader = new FrameReader((tag) => out.push(tag), 100);
    const bytes = frame(Tag.Broadcast, Buffer.alloc(50));
    reader.push(bytes.subarray(0, 30));
    expect(out).toEqual([]);
    expect(reader.bufferedBytes).toBe(30 - FRAME_HEADER_BYTES);
  });
});

describe('control payloads round-trip', () => {
  it('Begin, Mismatch, silent ranks, Abort, Handshake', () => {
    expect(decodeBegin(begin)).toMatchObject({
      sequence: 7,
      action: Action.allreduce,
      contributionBytes: 24,
    });
    const words = [
      encodeFingerprint(fingerprint('barrier')),
      encodeFingerprint(fingerprint('allreduce', { count: 2 ** 40 })),
    ];
    const m = decodeMismatch(encodeMismatch(3, [Action.barrier, Action.allreduce], words));
    expect(m.sequence).toBe(3);
    expect(m.fingerprints.map((w) => Array.from(w))).toEqual(words.map((w) => Array.from(w)));
    expect(decodeSilentRanks(encodeSilentRanks(5, 1234.4, [1, 3]))).toEqual({
      sequence: 5,
      stalledMs: 1234,
      ranks: [1, 3],
      detail: '',
    });
    const detail = 'rank 1 sent 1.5 MiB of 64.0 MiB, then nothing for 2.0 s ✝';
    expect(decodeSilentRanks(encodeSilentRanks(5, 7, [1], detail)).detail).toBe(detail);
    expect(decodeAbort(encodeAbort(2, 'died ✝'))).toEqual({ rank: 2, reason: 'died ✝' });
    const nonce = newNonce();
    const hello = {
      version: PROTOCOL_VERSION,
      hasToken: true,
      rank: 3,
      size: 4,
      nonce,
      jobId: 'slurm 42.0 ✝',
    };
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    expect(decodeHello(encodeHello({ ...hello, jobId: null })).jobId).toBeNull();
    // Another version's Handshake decodes as far as its fixed part, so rank 0 can answer BadVersion.
    const v1 = encodeHello({ ...hello, version: 1 }).subarray(0, HANDSHAKE_FIXED_BYTES);
    expect(decodeHello(v1)).toMatchObject({ version: 1, rank: 3, size: 4, jobId: null });
  });

  it('decoders reject payloads of the wrong shape with BAD_PAYLOAD', () => {
    expect(codeOf(() => decodeBegin(begin.subarray(1)))).toBe('BAD_PAYLOAD');
    const badAction = Buffer.from(begin);
    badAction[4] = 9;
    expect(codeOf(() => decodeBegin(badAction))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeMismatch(Buffer.from([0, 0, 0, 0, 0, 0, 0, 5])))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeSilentRanks(Buffer.alloc(11)))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeSilentRanks(encodeSilentRanks(1, 1, [1, 2]).subarray(0, 16)))).toBe(
      'BAD_PAYLOAD',
    );
    expect(codeOf(() => decodeAbort(Buffer.alloc(3)))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeHello(Buffer.alloc(10)))).toBe('BAD_PAYLOAD');
    const current = encodeHello({
      version: PROTOCOL_VERSION,
      hasToken: false,
      rank: 1,
      size: 2,
      nonce: newNonce(),
      jobId: 'a',
    });
    expect(codeOf(() => decodeHello(current.subarray(0, current.length - 1)))).toBe('BAD_PAYLOAD');
  });
});
