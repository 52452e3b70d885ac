/**
 * The numeric element types a buffer collective accepts, and the reduction operators.
 * Codes are stable: they travel on the wire (spec/backend-tcp.md) and in fingerprints.
 */

/**
 * The numeric typed arrays the buffer collectives accept: one per {@link DTypeName}. `DataView`,
 * plain arrays and detached arrays are refused (`InvalidArgument`). Subarrays (views with a non-zero
 * byteOffset) are accepted; only the viewed elements are read or written
 * (spec/communicator.md §1). Lengths and counts are in elements.
 */
export type NumericArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | BigInt64Array
  | BigUint64Array;

/**
 * A constructor of one of the numeric typed arrays (used by createSharedRegion), e.g.
 * `Float64Array` or `BigInt64Array`.
 *
 * @typeParam T - the array type it constructs.
 */
export type NumericArrayConstructor<T extends NumericArray = NumericArray> = {
  /**
   * A zero-filled array.
   *
   * @param length - its length in elements.
   */
  new (length: number): T;
  /**
   * A view of existing memory.
   *
   * @param buffer - the memory.
   * @param byteOffset - where the view starts, in bytes (a multiple of BYTES_PER_ELEMENT).
   * @param length - its length in elements; default to the end of the buffer.
   */
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  /** Bytes per element: 1, 2, 4 or 8. */
  readonly BYTES_PER_ELEMENT: number;
  /** The class name, e.g. `'Float64Array'`. */
  readonly name: string;
};

/**
 * The names of the element types, as error messages and fingerprints print them. Each has a stable
 * one-byte code (its position in this list, 0–10) used on the wire and in fingerprints
 * (spec/communicator.md §1): float64 `Float64Array`, float32 `Float32Array`, int32, uint32, int16,
 * uint16, int8, uint8, uint8clamped `Uint8ClampedArray`, bigint64 `BigInt64Array`, biguint64
 * `BigUint64Array`.
 */
export type DTypeName =
  | 'float64'
  | 'float32'
  | 'int32'
  | 'uint32'
  | 'int16'
  | 'uint16'
  | 'int8'
  | 'uint8'
  | 'uint8clamped'
  | 'bigint64'
  | 'biguint64';

export interface DType {
  readonly name: DTypeName;
  /** Stable one-byte code (wire format, fingerprints). */
  readonly code: number;
  readonly ctor: NumericArrayConstructor;
  readonly bytes: number;
  readonly bigint: boolean;
  readonly float: boolean;
}

const table: Array<[DTypeName, NumericArrayConstructor, boolean]> = [
  ['float64', Float64Array, true],
  ['float32', Float32Array, true],
  ['int32', Int32Array, false],
  ['uint32', Uint32Array, false],
  ['int16', Int16Array, false],
  ['uint16', Uint16Array, false],
  ['int8', Int8Array, false],
  ['uint8', Uint8Array, false],
  ['uint8clamped', Uint8ClampedArray, false],
  ['bigint64', BigInt64Array as unknown as NumericArrayConstructor, false],
  ['biguint64', BigUint64Array as unknown as NumericArrayConstructor, false],
];

export const DTYPES: readonly DType[] = table.map(([name, ctor, float], code) => ({
  name,
  code,
  ctor,
  bytes: ctor.BYTES_PER_ELEMENT,
  bigint: name.startsWith('big'),
  float,
}));

const byCtor = new Map<unknown, DType>(DTYPES.map((d) => [d.ctor, d]));
const byPrototype = new Map<unknown, DType>(DTYPES.map((d) => [d.ctor.prototype, d]));

/** The dtype of a typed array, or undefined when the value is not a numeric typed array. */
export function dtypeOf(value: unknown): DType | undefined {
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return undefined;
  // Fast path (every collective calls this): an array of this realm has its class's prototype.
  const own = byPrototype.get(Object.getPrototypeOf(value));
  if (own) return own;
  // Look up by the intrinsic constructor so arrays made in another realm (worker) still match.
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return DTYPES.find((d) => d.ctor.name === tag) ?? byCtor.get(value.constructor);
}

export function dtypeByCode(code: number): DType | undefined {
  return DTYPES[code];
}

export function dtypeByCtor(ctor: unknown): DType | undefined {
  return byCtor.get(ctor);
}

/**
 * The reduction operators of {@link Communicator.allreduce}, applied element-wise in rank order
 * (spec/communicator.md §5). `sum` and `prod` round to the element type at every step (integers
 * wrap, `uint8clamped` clamps, bigint types wrap to 64 bits); `min`/`max` return NaN if either
 * operand is NaN and order `-0` below `+0`. Stable codes: `sum` 0, `prod` 1, `min` 2, `max` 3.
 */
export type ReduceOp = 'sum' | 'prod' | 'min' | 'max';

export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'prod', 'min', 'max'];

/** Stable one-byte code of an operator (wire format, fingerprints). */
export function opCode(op: ReduceOp): number {
  return REDUCE_OPS.indexOf(op);
}

export function opByCode(code: number): ReduceOp | undefined {
  return REDUCE_OPS[code];
}

/** A view of the same bytes as a Uint8Array (no copy). */
export function bytesOf(array: NumericArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
