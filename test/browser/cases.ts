/**
 * Inputs the browser tests send to the page and compute in Node.js as well: every dtype's values from
 * the conformance suite, plus float bit patterns that exercise rounding and NaN payloads (quiet and
 * signalling, both signs), so "bit-identical" is tested on the bits that most often differ.
 */
import { DTYPES, type DType, type NumericArray } from '../../src/communicator/dtypes.js';
import { input } from '../conformance/inputs.js';

/** Elements per contribution: odd, and longer than the special patterns below. */
export const CASE_ELEMENTS = 37;
/** Contributions reduced per case (three, so a result depends on rank order). */
export const CASE_PARTS = 3;

/** float64 bit patterns (high word, low word): NaN payloads, extremes, values that round. */
const FLOAT64_BITS: ReadonlyArray<readonly [number, number]> = [
  [0x7ff80000, 0x00000001], // quiet NaN, payload 1
  [0xfff8dead, 0xbeef0000], // negative quiet NaN with a payload
  [0x7ff00000, 0x00000001], // signalling NaN
  [0x00000000, 0x00000001], // smallest subnormal
  [0x7fefffff, 0xffffffff], // largest finite: sums overflow to Infinity
  [0x3fb99999, 0x9999999a], // 0.1
  [0x3fd55555, 0x55555555], // 1/3
  [0x43400000, 0x00000001], // 2^53 + 2: the next sum rounds
  [0x80000000, 0x00000000], // -0
];

/** float32 bit patterns: the same kinds of values at single precision. */
const FLOAT32_BITS: readonly number[] = [
  0x7fc00001, // quiet NaN, payload 1
  0xffc12345, // negative quiet NaN with a payload
  0x7f800001, // signalling NaN
  0x00000001, // smallest subnormal
  0x7f7fffff, // largest finite
  0x3dcccccd, // 0.1
  0x3eaaaaab, // 1/3
  0x33800000, // 2^-24: 1 + 2^-24 rounds to 1 (ties to even), 2^-24 + 2^-24 + 1 does not
  0x3f800000, // 1
];

/** Contribution `part` of a case of `dtype`: conformance values with the special patterns mixed in. */
export function casePart(dtype: DType, part: number): NumericArray {
  const out = input(dtype, part, CASE_ELEMENTS);
  if (dtype.name === 'float64') {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length * 2);
    FLOAT64_BITS.forEach(([high, low], k) => {
      // Rotate by part, so each element meets different patterns in different orders.
      const at = (k * 3 + part) % CASE_ELEMENTS;
      words[at * 2] = low;
      words[at * 2 + 1] = high;
    });
  } else if (dtype.name === 'float32') {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
    FLOAT32_BITS.forEach((bits, k) => {
      words[(k * 3 + part) % CASE_ELEMENTS] = bits;
    });
  }
  return out;
}

/** The bytes of a typed array, as numbers (how bytes cross into and out of the page). */
export function byteList(array: NumericArray): number[] {
  return Array.from(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
}

/** One dtype's contributions, as the page receives them. */
export interface DTypeCase {
  dtype: DType['name'];
  /** The typed array class's global name (Float64Array…), to rebuild the arrays in the page. */
  ctor: string;
  parts: number[][];
}

/** Every dtype with its CASE_PARTS contributions. */
export function dtypeCases(): DTypeCase[] {
  return DTYPES.map((dtype) => ({
    dtype: dtype.name,
    ctor: dtype.ctor.name,
    parts: Array.from({ length: CASE_PARTS }, (_, part) => byteList(casePart(dtype, part))),
  }));
}

/** Rebuilds a typed array of `dtype` from its bytes (Node side). */
export function fromBytes(dtype: DType, bytes: readonly number[]): NumericArray {
  const copy = new Uint8Array(bytes);
  return new dtype.ctor(copy.buffer, 0, copy.length / dtype.bytes);
}
