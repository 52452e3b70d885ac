import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, REDUCE_OPS, type DType, type NumericArray } from '../../src/communicator/dtypes.js';
import { reduceInto, reduceRankOrder } from '../../src/communicator/reduce.js';
import { referenceReduce, sameBits, firstDifference } from '../support/reference.js';

function arbitraryElement(dtype: DType): fc.Arbitrary<number | bigint> {
  if (dtype.bigint) return fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n });
  if (dtype.float) {
    return fc.oneof(
      fc.double(),
      fc.constantFrom(NaN, -0, 0, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE, 3.4e38),
    );
  }
  return fc.integer({ min: -(2 ** 33), max: 2 ** 33 });
}

function fill(dtype: DType, values: Array<number | bigint>): NumericArray {
  const out = new dtype.ctor(values.length);
  values.forEach((v, i) => {
    (out as unknown as Array<number | bigint>)[i] = dtype.bigint ? (v as bigint) : Number(v);
  });
  return out;
}

describe('reduction kernel', () => {
  for (const dtype of DTYPES) {
    for (const op of REDUCE_OPS) {
      it(`${op} over ${dtype.name} matches the naive rank-order reference`, () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 7 }).chain((ranks) =>
              fc.integer({ min: 0, max: 40 }).chain((n) =>
                fc.array(fc.array(arbitraryElement(dtype), { minLength: n, maxLength: n }), {
                  minLength: ranks,
                  maxLength: ranks,
                }),
              ),
            ),
            (rows) => {
              const parts = rows.map((row) => fill(dtype, row));
              const n = parts[0]!.length;
              const got = new dtype.ctor(n);
              reduceRankOrder(got, parts, op);
              const expected = new dtype.ctor(n);
              referenceReduce(dtype.name, op, parts, expected);
              expect(sameBits(got, expected), firstDifference(got, expected)).toBe(true);
            },
          ),
          { numRuns: 60 },
        );
      });
    }
  }

  it('min and max: NaN wins, -0 is below +0, in either order', () => {
    const a = new Float64Array([NaN, 1, -0, 0, -0]);
    const b = new Float64Array([1, NaN, 0, -0, -0]);
    const min = Float64Array.from(a);
    reduceInto(min, b, 'min');
    expect(Array.from(min).map((x) => (Object.is(x, -0) ? '-0' : String(x)))).toEqual([
      'NaN',
      'NaN',
      '-0',
      '-0',
      '-0',
    ]);
    const max = Float64Array.from(a);
    reduceInto(max, b, 'max');
    expect(Array.from(max).map((x) => (Object.is(x, -0) ? '-0' : String(x)))).toEqual([
      'NaN',
      'NaN',
      '0',
      '0',
      '-0',
    ]);
  });

  it('integers wrap on store, 32-bit products exactly (not via float rounding)', () => {
    const acc = new Int32Array([0x7fffffff, 0x12345678]);
    reduceInto(acc, new Int32Array([1, 0x7654321]), 'sum');
    expect(acc[0]).toBe(-0x80000000);
    const p = new Int32Array([0x12345678]);
    reduceInto(p, new Int32Array([0x7654321]), 'prod');
    expect(p[0]).toBe(Number(BigInt.asIntN(32, 0x12345678n * 0x7654321n)));
    const u = new BigUint64Array([2n ** 64n - 1n]);
    reduceInto(u, new BigUint64Array([2n]), 'sum');
    expect(u[0]).toBe(1n);
    const c = new Uint8ClampedArray([200]);
    reduceInto(c, new Uint8ClampedArray([100]), 'sum');
    expect(c[0]).toBe(255);
  });

  it('rank order is not commutative-safe for floats: the kernel fixes it', () => {
    const x = [new Float64Array([1e16]), new Float64Array([1]), new Float64Array([-1e16])];
    const out = new Float64Array(1);
    reduceRankOrder(out, x, 'sum');
    expect(out[0]).toBe(1e16 + 1 - 1e16);
  });
});
