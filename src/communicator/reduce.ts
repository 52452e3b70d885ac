/**
 * The one reduction kernel every backend uses (spec/communicator.md §5).
 *
 * result[i] = op(…op(op(x0[i], x1[i]), x2[i])…, x[R-1][i]) — always in rank order, and every
 * intermediate value is stored into the accumulator, so it has the accumulator's typed-array
 * store semantics (float32 rounding, integer wrap-around, Uint8Clamped clamping) at each step.
 * Because the order and the rounding points are fixed, every backend gets the same bits.
 */
import {
  DTYPES,
  dtypeOf,
  type DType,
  type NumericArray,
  type ReduceOp,
  REDUCE_OPS,
  opCode,
} from './dtypes.js';
import { acceleratedKernels } from './simd-kernel.js';

/** acc[i] = op(acc[i], src[i]) for i in [start, end). */
export type ReduceStep = (acc: NumericArray, src: NumericArray, start: number, end: number) => void;

function stepSource(dtype: DType, op: ReduceOp): string {
  const a = 'acc[i]';
  const b = 'src[i]';
  let expr: string;
  switch (op) {
    case 'sum':
      expr = `${a} + ${b}`;
      break;
    case 'prod':
      // 32-bit integer products exceed 2^53 before wrapping; Math.imul wraps exactly.
      expr = dtype.name === 'int32' || dtype.name === 'uint32' ? `Math.imul(${a}, ${b})` : `${a} * ${b}`;
      break;
    case 'min':
      // Math.min: NaN wins, and -0 < +0 (spec/communicator.md §5.2).
      expr = dtype.float ? `Math.min(${a}, ${b})` : `(${b} < ${a} ? ${b} : ${a})`;
      break;
    case 'max':
      expr = dtype.float ? `Math.max(${a}, ${b})` : `(${b} > ${a} ? ${b} : ${a})`;
      break;
  }
  return `for (let i = start; i < end; i++) acc[i] = ${expr};`;
}

/**
 * One compiled loop per (dtype, op): each stays monomorphic in V8, which a single generic loop
 * over eleven array types would not (a megamorphic loop runs several times slower).
 */
const steps: ReadonlyMap<string, ReduceStep> = new Map(
  DTYPES.flatMap((dtype) =>
    REDUCE_OPS.map((op): [string, ReduceStep] => [
      `${dtype.name}:${op}`,
      // Source generated from the fixed table above, never from input.
      new Function('acc', 'src', 'start', 'end', stepSource(dtype, op)) as ReduceStep,
    ]),
  ),
);

/** An accelerated step (e.g. WebAssembly SIMD) may be installed per (dtype, op) if it is bit-identical. */
const accelerated = new Map<string, ReduceStep>();
let accelerationEnabled = true;

/**
 * The step reduceStepFor returns, by (dtype code, op code): every small collective looks its step up,
 * and an index into an array costs far less than building a string key. Rebuilt on every change.
 */
const chosen: Array<ReduceStep | undefined> = [];

function rebuildChosen(): void {
  for (const dtype of DTYPES) {
    REDUCE_OPS.forEach((op, code) => {
      const key = `${dtype.name}:${op}`;
      chosen[dtype.code * REDUCE_OPS.length + code] =
        (accelerationEnabled && accelerated.get(key)) || steps.get(key);
    });
  }
}

export function installAcceleratedStep(dtype: DType, op: ReduceOp, step: ReduceStep): void {
  accelerated.set(`${dtype.name}:${op}`, step);
  rebuildChosen();
}

/** The off switch for fast paths: tests run both and compare bits; users escape a platform quirk. */
export function setAcceleration(enabled: boolean): void {
  accelerationEnabled = enabled;
  rebuildChosen();
}

// The WebAssembly SIMD kernel, installed for every backend; it falls back to the JS loop for arrays
// outside shared WebAssembly memory, and setAcceleration(false) turns it off.
for (const kernel of acceleratedKernels()) {
  const plain = steps.get(`${kernel.dtype.name}:${kernel.op}`) as ReduceStep;
  installAcceleratedStep(kernel.dtype, kernel.op, kernel.step(plain));
}
rebuildChosen();

export function reduceStepFor(dtype: DType, op: ReduceOp): ReduceStep {
  const step = chosen[dtype.code * REDUCE_OPS.length + opCode(op)];
  if (!step) throw new TypeError(`no reduction step for ${dtype.name}:${op}`);
  return step;
}

/** acc[i] = op(acc[i], src[i]) for i in [start, end); acc and src have the same dtype. */
export function reduceInto(
  acc: NumericArray,
  src: NumericArray,
  op: ReduceOp,
  start = 0,
  end = acc.length,
): void {
  const dtype = dtypeOf(acc);
  if (!dtype) throw new TypeError('reduceInto: accumulator is not a numeric typed array');
  reduceStepFor(dtype, op)(acc, src, start, end);
}

/**
 * out = parts[0] ∘ parts[1] ∘ … ∘ parts[R-1] in rank order, over [start, end).
 * `out` may alias parts[0] (the first contribution is copied only when it is not out itself).
 */
export function reduceRankOrder(
  out: NumericArray,
  parts: readonly NumericArray[],
  op: ReduceOp,
  start = 0,
  end = out.length,
): void {
  const first = parts[0];
  if (!first) throw new TypeError('reduceRankOrder: no contributions');
  const dtype = dtypeOf(out);
  if (!dtype) throw new TypeError('reduceRankOrder: output is not a numeric typed array');
  if (first !== out) {
    (out as Float64Array).set((first as Float64Array).subarray(start, end), start);
  }
  const step = reduceStepFor(dtype, op);
  for (let r = 1; r < parts.length; r++) step(out, parts[r] as NumericArray, start, end);
}
