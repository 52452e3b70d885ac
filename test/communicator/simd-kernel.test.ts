/**
 * The WebAssembly SIMD kernel against the JS loop: the same inputs through both paths must give the
 * same bits, for every accelerated (dtype, op), awkward lengths and offsets, NaN, ±0, ±Infinity and
 * values that overflow or wrap.
 */
import { describe, expect, it } from 'vitest';
import { DTYPES, type DType, type NumericArray, type ReduceOp } from '../../src/communicator/dtypes.js';
import { reduceStepFor, setAcceleration } from '../../src/communicator/reduce.js';
import {
  acceleratedKernels,
  registerSharedMemory,
  simdAvailable,
} from '../../src/communicator/simd-kernel.js';
import { Wasm } from '../../src/communicator/wasm.js';
import { input } from '../conformance/inputs.js';
import { firstDifference, referenceReduce, sameBits } from '../support/reference.js';

const PAGE = 65536;
const memory = new Wasm!.Memory({ initial: 64, maximum: 64, shared: true });
registerSharedMemory(memory);

const SPECIAL = [
  NaN,
  -0,
  0,
  Infinity,
  -Infinity,
  3.4e38,
  -3.4e38,
  1e308,
  -1e308,
  5e-324,
  2 ** 31,
  -(2 ** 31) - 1,
];

function values(dtype: DType, salt: number, n: number): NumericArray {
  const out = input(dtype, salt % 3, n, salt);
  if (dtype.float) for (let i = 0; i < n; i += 7) out[i] = SPECIAL[(i + salt) % SPECIAL.length] as number;
  return out;
}

/** A view of `data` in the shared memory at an element offset that is not vector-aligned. */
function shared(dtype: DType, data: NumericArray, byteOffset: number): NumericArray {
  const view = new dtype.ctor(memory.buffer, byteOffset, data.length);
  (view as Float64Array).set(data as Float64Array);
  return view;
}

function bothPaths(dtype: DType, op: ReduceOp, n: number, start: number, end: number, salt: number): void {
  const acc = values(dtype, salt, n);
  const src = values(dtype, salt + 1, n);
  setAcceleration(false);
  const plain = new dtype.ctor(n);
  (plain as Float64Array).set(acc as Float64Array);
  reduceStepFor(dtype, op)(plain, src, start, end);
  setAcceleration(true);
  const fastAcc = shared(dtype, acc, dtype.bytes * 3);
  const fastSrc = shared(dtype, src, PAGE + dtype.bytes * 5);
  reduceStepFor(dtype, op)(fastAcc, fastSrc, start, end);
  expect(
    sameBits(fastAcc, plain),
    `${dtype.name} ${op} n=${n} [${start},${end}): ${firstDifference(fastAcc, plain)}`,
  ).toBe(true);
  // And both agree with the independent reference over the reduced range.
  const expected = new dtype.ctor(end - start);
  referenceReduce(dtype.name, op, [acc.subarray(start, end), src.subarray(start, end)], expected);
  expect(sameBits(fastAcc.subarray(start, end), expected), `${dtype.name} ${op} vs reference`).toBe(true);
}

describe('WebAssembly SIMD reduction kernel', () => {
  it('is available on this platform (Node 20, x64/arm64), so the tests below exercise it', () => {
    expect(simdAvailable).toBe(true);
    expect(acceleratedKernels().map((k) => `${k.dtype.name}:${k.op}`)).toEqual([
      'float64:sum',
      'float64:prod',
      'float32:sum',
      'float32:prod',
      'int32:sum',
      'int32:prod',
      'uint32:sum',
      'uint32:prod',
    ]);
  });

  for (const kernel of acceleratedKernels()) {
    it(`${kernel.dtype.name} ${kernel.op}: identical bits to the JS loop`, () => {
      let salt = 0;
      for (const n of [0, 1, 2, 3, 5, 17, 64, 1001, 4099]) {
        for (const [start, end] of [
          [0, n],
          [Math.min(1, n), n],
          [Math.min(3, n), Math.max(Math.min(3, n), n - 2)],
        ] as const) {
          bothPaths(kernel.dtype, kernel.op, n, start, end, salt++);
        }
      }
    });
  }

  it('leaves arrays outside registered memory to the JS loop, and setAcceleration(false) turns it off', () => {
    const f64 = DTYPES.find((d) => d.name === 'float64') as DType;
    setAcceleration(true);
    const fast = reduceStepFor(f64, 'sum');
    setAcceleration(false);
    const plain = reduceStepFor(f64, 'sum');
    setAcceleration(true);
    expect(fast).not.toBe(plain);
    const a = new Float64Array([1, 2, NaN, -0]);
    const b = new Float64Array([0.5, -2, 1, -0]);
    fast(a, b, 0, 4);
    expect(Array.from(a)).toEqual([1.5, 0, NaN, -0]);
  });
});
