/**
 * The message header codec (src/communicator/messages/header.ts, spec/communicator.md §10.5) and the
 * matching rule (matching.ts, §10.3): pure parts, tested directly. A frame that is not a header of
 * this version must be refused with BadHeader, never decoded into a guess.
 */
import { describe, expect, it } from 'vitest';
import {
  BadHeader,
  decodeHeader,
  encodeHeader,
  FLAG_DISCARD,
  FrameType,
  HEADER_BYTES,
  HEADER_VERSION,
  type Header,
} from '../../../src/communicator/messages/header.js';
import { MAX_HEADER_BYTES } from '../../../src/communicator/messages/channel.js';
import { ANY_SOURCE, ANY_TAG, MAX_TAG, OBJECT_KIND } from '../../../src/communicator/messages/layer.js';
import { matches, MatchQueue } from '../../../src/communicator/messages/matching.js';

const SAMPLES: Header[] = [
  { type: FrameType.EAGER, kind: 0, flags: 0, context: 0, tag: 0, bytes: 0, messageId: 0, receiveId: 0 },
  {
    type: FrameType.RTS,
    kind: 10,
    flags: 0,
    context: 2 ** 32 - 1,
    tag: MAX_TAG,
    bytes: 2 ** 53 - 1,
    messageId: 2 ** 32 - 1,
    receiveId: 0,
  },
  {
    type: FrameType.CTS,
    kind: OBJECT_KIND,
    flags: FLAG_DISCARD,
    context: 7,
    tag: 5,
    bytes: 2 ** 32 + 3,
    messageId: 9,
    receiveId: 2 ** 32 - 1,
  },
  {
    type: FrameType.DATA,
    kind: 3,
    flags: 0,
    context: 1,
    tag: 123456,
    bytes: 65537,
    messageId: 1,
    receiveId: 2,
  },
];

function garble(header: Header, at: number, value: number): Uint8Array {
  const bytes = encodeHeader(header);
  bytes[at] = value;
  return bytes;
}

describe('message header codec', () => {
  it('fits the channel header limit and round-trips every field at its extremes', () => {
    expect(HEADER_BYTES).toBeLessThanOrEqual(MAX_HEADER_BYTES);
    for (const h of SAMPLES) {
      const bytes = encodeHeader(h);
      expect(bytes.length).toBe(HEADER_BYTES);
      expect(decodeHeader(bytes)).toEqual(h);
      // A view into a larger buffer at an odd offset (a ring buffer's slot) decodes the same.
      const host = new Uint8Array(HEADER_BYTES + 7);
      host.set(bytes, 3);
      expect(decodeHeader(host.subarray(3, 3 + HEADER_BYTES))).toEqual(h);
    }
  });

  it('refuses a header cut at every length, or with trailing bytes', () => {
    const bytes = encodeHeader(SAMPLES[1]!);
    for (let n = 0; n < HEADER_BYTES; n++) {
      expect(() => decodeHeader(bytes.subarray(0, n)), `length ${n}`).toThrow(BadHeader);
    }
    expect(() => decodeHeader(new Uint8Array(HEADER_BYTES + 1))).toThrow(/28 bytes, this one has 29/);
  });

  it('refuses another version, an unknown type or flag, a negative tag, a length past 2^53 − 1', () => {
    const h = SAMPLES[3]!;
    expect(() => decodeHeader(garble(h, 0, HEADER_VERSION + 1))).toThrow(/version 2, expected 1/);
    expect(() => decodeHeader(garble(h, 1, 0))).toThrow(/unknown frame type 0/);
    expect(() => decodeHeader(garble(h, 1, 5))).toThrow(/unknown frame type 5/);
    expect(() => decodeHeader(garble(h, 3, 2))).toThrow(/unknown header flags 0x2/);
    expect(() => decodeHeader(garble(h, 11, 0x80))).toThrow(/negative tag/);
    expect(() => decodeHeader(garble(h, 19, 0xff))).toThrow(/beyond 2\^53/);
  });

  it('random bytes decode to a valid header or throw BadHeader, nothing else', () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      const bytes = Uint8Array.from({ length: HEADER_BYTES }, next);
      if (i % 2 === 0) {
        // Half pass the version, type and flags bytes (a quarter every check), so each check is reached.
        bytes[0] = HEADER_VERSION;
        bytes[1] = FrameType.EAGER + (bytes[1]! % 4);
        bytes[3] = bytes[3]! & FLAG_DISCARD;
        if (i % 4 === 0) {
          bytes[11] = bytes[11]! & 0x7f; // a non-negative tag
          bytes[18] = bytes[18]! & 0x1f; // a length below 2^53
          bytes[19] = 0;
        }
      }
      try {
        const h = decodeHeader(bytes);
        decoded++;
        expect(h.type).toBeGreaterThanOrEqual(FrameType.EAGER);
        expect(h.type).toBeLessThanOrEqual(FrameType.DATA);
        expect(h.tag).toBeGreaterThanOrEqual(0);
        expect(Number.isSafeInteger(h.bytes)).toBe(true);
        expect(encodeHeader(h)).toEqual(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(BadHeader);
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });
});

describe('matching', () => {
  it('wildcards match any source or tag, never another context', () => {
    const m = { context: 4, source: 2, tag: 9 };
    expect(matches({ context: 4, source: 2, tag: 9 }, m)).toBe(true);
    expect(matches({ context: 4, source: ANY_SOURCE, tag: 9 }, m)).toBe(true);
    expect(matches({ context: 4, source: 2, tag: ANY_TAG }, m)).toBe(true);
    expect(matches({ context: 4, source: ANY_SOURCE, tag: ANY_TAG }, m)).toBe(true);
    expect(matches({ context: 5, source: ANY_SOURCE, tag: ANY_TAG }, m)).toBe(false);
    expect(matches({ context: 4, source: 1, tag: ANY_TAG }, m)).toBe(false);
    expect(matches({ context: 4, source: ANY_SOURCE, tag: 8 }, m)).toBe(false);
  });

  it('takes the first match in arrival order, leaving the rest in order', () => {
    const q = new MatchQueue<{ context: number; source: number; tag: number; n: number }>();
    const arrivals = [
      { source: 1, tag: 1 },
      { source: 2, tag: 1 },
      { source: 1, tag: 2 },
      { source: 1, tag: 1 },
      { source: 2, tag: 2 },
    ];
    arrivals.forEach((a, n) => q.push({ context: 0, ...a, n }));
    const take = (source: number, tag: number): number | undefined =>
      q.take((m) => matches({ context: 0, source, tag }, m))?.n;
    expect(take(1, 1)).toBe(0); // the older of two (1, 1) messages
    expect(take(ANY_SOURCE, 2)).toBe(2);
    expect(take(2, ANY_TAG)).toBe(1);
    expect(take(3, ANY_TAG)).toBeUndefined();
    expect(take(ANY_SOURCE, ANY_TAG)).toBe(3);
    expect(q.takeAll(() => true).map((m) => m.n)).toEqual([4]);
    expect(q.length).toBe(0);
  });
});
