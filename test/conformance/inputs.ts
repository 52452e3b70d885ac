/** Deterministic inputs: any rank can compute any other rank's contribution. */
import { DTYPES, type DType, type NumericArray } from '../../src/communicator/dtypes.js';

function hash(rank: number, i: number, salt = 0): number {
  let h = Math.imul(rank + 1, 0x9e3779b1) ^ Math.imul(i + 7 + salt, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
  return (h ^ (h >>> 13)) | 0;
}

/** Values that exercise wrap-around, clamping, NaN and signed zeros. */
export function input(dtype: DType, rank: number, n: number, salt = 0): NumericArray {
  const out = new dtype.ctor(n);
  const cells = out as unknown as Array<number | bigint>;
  for (let i = 0; i < n; i++) {
    const h = hash(rank, i, salt);
    if (dtype.bigint) {
      cells[i] = BigInt(h) * 0x1_0000_0001n + BigInt(rank);
    } else if (dtype.float) {
      let v = (h % 100_000) / 1_000 + rank * 1e-7;
      if (i % 17 === 5 && rank === 1) v = NaN;
      if (i % 13 === 3) v = rank % 2 === 0 ? -0 : 0;
      if (i % 19 === 7) v = -0;
      cells[i] = v;
    } else if (dtype.name === 'uint8clamped') {
      cells[i] = h & 0xff;
    } else {
      cells[i] = h; // the typed-array store wraps it to the element width
    }
  }
  return out;
}

export const FLOAT64 = DTYPES.find((d) => d.name === 'float64') as DType;

/** A float64 pattern for broadcast and gather checks: value = f(rank, i), all distinct. */
export function pattern(rank: number, n: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rank * 1_000_000 + i + offset + 0.25;
  return out;
}
