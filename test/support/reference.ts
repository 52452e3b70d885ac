/**
 * An independent, naive reference for the reduction kernel: exact BigInt arithmetic for integers,
 * explicit IEEE rules for floats. It shares no code with src/communicator/reduce.ts on purpose.
 */
import type { DTypeName, NumericArray, ReduceOp } from '../../src/communicator/dtypes.js';

const INT_BITS: Partial<Record<DTypeName, [bits: number, signed: boolean]>> = {
  int32: [32, true],
  uint32: [32, false],
  int16: [16, true],
  uint16: [16, false],
  int8: [8, true],
  uint8: [8, false],
  bigint64: [64, true],
  biguint64: [64, false],
};

function floatMin(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === 0 && b === 0) return Object.is(a, -0) || Object.is(b, -0) ? -0 : 0;
  return a < b ? a : b;
}

function floatMax(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === 0 && b === 0) return Object.is(a, 0) || Object.is(b, 0) ? 0 : -0;
  return a > b ? a : b;
}

function combine(dtype: DTypeName, op: ReduceOp, a: number | bigint, b: number | bigint): number | bigint {
  const int = INT_BITS[dtype];
  if (int) {
    const [bits, signed] = int;
    const x = BigInt(a);
    const y = BigInt(b);
    const exact =
      op === 'sum' ? x + y : op === 'prod' ? x * y : op === 'min' ? (x < y ? x : y) : x > y ? x : y;
    const wrapped = signed ? BigInt.asIntN(bits, exact) : BigInt.asUintN(bits, exact);
    return bits === 64 ? wrapped : Number(wrapped);
  }
  if (dtype === 'uint8clamped') {
    const x = a as number;
    const y = b as number;
    const exact =
      op === 'sum' ? x + y : op === 'prod' ? x * y : op === 'min' ? Math.min(x, y) : Math.max(x, y);
    return Math.max(0, Math.min(255, exact));
  }
  const x = a as number;
  const y = b as number;
  const exact = op === 'sum' ? x + y : op === 'prod' ? x * y : op === 'min' ? floatMin(x, y) : floatMax(x, y);
  return dtype === 'float32' ? Math.fround(exact) : exact;
}

/** The rank-order reduction of one element. */
export function referenceElement(
  dtype: DTypeName,
  op: ReduceOp,
  values: ReadonlyArray<number | bigint>,
): number | bigint {
  let acc = values[0] as number | bigint;
  for (let r = 1; r < values.length; r++) acc = combine(dtype, op, acc, values[r] as number | bigint);
  return acc;
}

export function referenceReduce(
  dtype: DTypeName,
  op: ReduceOp,
  parts: readonly NumericArray[],
  out: NumericArray,
): void {
  for (let i = 0; i < out.length; i++) {
    (out as unknown as Array<number | bigint>)[i] = referenceElement(
      dtype,
      op,
      parts.map((p) => p[i] as number | bigint),
    );
  }
}

/** True when a and b hold the same bits (NaN payloads aside, -0 ≠ +0). */
export function sameBits(a: NumericArray, b: NumericArray): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

export function firstDifference(a: NumericArray, b: NumericArray): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (!Object.is(a[i], b[i])) return `index ${i}: got ${String(a[i])}, expected ${String(b[i])}`;
  }
  return 'none';
}
