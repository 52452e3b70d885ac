/**
 * The numeric element types a buffer collective accepts, and the reduction operators.
 * Codes are stable: they travel on the wire (spec/backend-tcp.md) and in fingerprints.
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

/** A constructor of one of the numeric typed arrays (used by createSharedRegion). */
export type NumericArrayConstructor<T extends NumericArray = NumericArray> = {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

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
