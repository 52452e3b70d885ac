/**
 * The node:crypto stand-in of the browser bundle (src/browser/crypto.ts, spec/browser.md §2), run in
 * Node.js against node:crypto itself: same HMAC-SHA256 bytes (RFC 4231 vectors and the handshake's
 * shape: several update() calls mixing strings and bytes), same timingSafeEqual answers and errors.
 * test/browser/bundle.test.ts runs the bundled shim in Chromium against the same expectations.
 */
import * as node from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as shim from '../../src/browser/crypto.js';
import { HMAC_CASES, RFC4231 } from './crypto-vectors.js';

const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

function macWith(impl: typeof shim | typeof node, key: string, parts: readonly string[]): string {
  const mac = impl.createHmac('sha256', bytes(key));
  // Parts prefixed 'text:' are fed as strings (UTF-8), the others as bytes, as the handshake does.
  for (const part of parts) mac.update(part.startsWith('text:') ? part.slice(5) : bytes(part));
  return Buffer.from(mac.digest()).toString('hex');
}

describe('the node:crypto stand-in (in Node.js)', () => {
  it('HMAC-SHA256 equals RFC 4231 and node:crypto', () => {
    for (const { key, data, mac } of RFC4231) {
      expect(macWith(shim, key, [data])).toBe(mac);
      expect(macWith(node, key, [data])).toBe(mac);
    }
  });

  it('HMAC-SHA256 over several updates (strings and bytes, empty parts, long keys) equals node:crypto', () => {
    for (const { key, parts } of HMAC_CASES)
      expect(macWith(shim, key, parts)).toBe(macWith(node, key, parts));
  });

  it('digest() is a Buffer of 32 bytes; algorithms other than sha256 are refused', () => {
    const digest = shim.createHmac('sha256', 'k').update('x').digest();
    expect(Buffer.isBuffer(digest) && digest.length).toBe(32);
    expect(() => shim.createHmac('sha1', 'k')).toThrow(/supports only 'sha256'/);
  });

  it('timingSafeEqual answers as node:crypto does, and refuses different lengths the same way', () => {
    const a = bytes('00010203');
    for (const b of [bytes('00010203'), bytes('00010204'), bytes('80010203')]) {
      expect(shim.timingSafeEqual(a, b)).toBe(node.timingSafeEqual(a, b));
    }
    const short = bytes('0001');
    expect(() => node.timingSafeEqual(a, short)).toThrow(RangeError);
    expect(() => shim.timingSafeEqual(a, short)).toThrow(RangeError);
    expect(() => shim.timingSafeEqual(a, short)).toThrow(
      expect.objectContaining({ code: 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH' }),
    );
  });

  it('randomBytes(n) gives n bytes, past the 64 KiB getRandomValues limit, and differs between calls', () => {
    const n = 65_536 * 2 + 3;
    const a = shim.randomBytes(n);
    const b = shim.randomBytes(n);
    expect([Buffer.isBuffer(a), a.length, b.length]).toEqual([true, n, n]);
    expect(a.equals(b)).toBe(false);
    // The tail past the first 64 KiB slice is filled too (all-zero 1 KiB is 2^-8192 likely).
    expect(a.subarray(n - 1024).some((x) => x !== 0)).toBe(true);
    expect(shim.randomBytes(0).length).toBe(0);
  });
});
