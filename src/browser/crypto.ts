/**
 * The browser's stand-in for the parts of node:crypto the token handshake uses (spec/browser.md §2):
 * `createHmac('sha256', key).update(…).digest()`, `randomBytes(n)`, `timingSafeEqual(a, b)`, with
 * node:crypto's results and errors. HMAC-SHA256 is @noble/hashes' (audited, synchronous — WebCrypto's
 * subtle.sign is asynchronous, and the handshake's callers are not); random bytes come from
 * crypto.getRandomValues. Outputs are Buffers (the bundle's Buffer is the `buffer` package's).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** The most bytes crypto.getRandomValues fills per call (Web Crypto: QuotaExceededError above it). */
const GET_RANDOM_VALUES_MAX_BYTES = 65_536;

type Bytes = string | Uint8Array;

const encoder = new TextEncoder();

function bytesOf(data: Bytes, what: string): Uint8Array {
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`${what} must be a string or a Uint8Array (got ${typeof data})`);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An HMAC in progress: update() any number of times, then digest() once. */
export interface Hmac {
  /** Feeds bytes (a string is UTF-8 encoded, as node:crypto's default). */
  update(data: Bytes): Hmac;
  /** The 32-byte MAC; the Hmac cannot be used afterwards. */
  digest(): Buffer;
}

/** node:crypto's createHmac, for 'sha256' only (anything else throws: it is not needed in a browser). */
export function createHmac(algorithm: string, key: Bytes): Hmac {
  if (algorithm.toLowerCase() !== 'sha256') {
    throw new Error(`createHmac: the browser build supports only 'sha256' (got '${algorithm}')`);
  }
  const state = hmac.create(sha256, bytesOf(key, 'createHmac key'));
  const handle: Hmac = {
    update(data) {
      state.update(bytesOf(data, 'Hmac.update data'));
      return handle;
    },
    digest() {
      return asBuffer(state.digest());
    },
  };
  return handle;
}

/** `n` cryptographically random bytes (crypto.getRandomValues, in slices of its 64 KiB limit). */
export function randomBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`randomBytes: size must be an integer ≥ 0 (got ${n})`);
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += GET_RANDOM_VALUES_MAX_BYTES) {
    globalThis.crypto.getRandomValues(out.subarray(at, Math.min(n, at + GET_RANDOM_VALUES_MAX_BYTES)));
  }
  return asBuffer(out);
}

/**
 * node:crypto's timingSafeEqual: true when a and b hold the same bytes, in time that depends only on
 * their length; a RangeError (code ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH) when the lengths differ.
 */
export function timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) {
    throw Object.assign(new RangeError('Input buffers must have the same byte length'), {
      code: 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH',
    });
  }
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let difference = 0;
  for (let i = 0; i < x.length; i++) difference |= (x[i] as number) ^ (y[i] as number);
  return difference === 0;
}
