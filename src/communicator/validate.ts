/**
 * Precondition checks shared by every backend (spec/communicator.md §4). Each failure is a CommError
 * that names the argument, the value received and what to pass instead.
 */
import {
  DTYPES,
  dtypeByCtor,
  dtypeOf,
  REDUCE_OPS,
  type DType,
  type NumericArray,
  type ReduceOp,
} from './dtypes.js';
import { CommError } from './errors.js';

const DTYPE_LIST = DTYPES.map((d) => d.ctor.name).join(', ');

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return `${typeof value} ${String(value)}`;
}

export function checkBuffer(operation: string, name: string, value: unknown): DType {
  const dtype = dtypeOf(value);
  if (!dtype) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `${name} must be a numeric typed array (${DTYPE_LIST}), got ${describeValue(value)}. Wrap plain arrays, e.g. Float64Array.from(values); use allgather/bcast for arbitrary values.`,
      { argument: name, received: describeValue(value) },
    );
  }
  // A detached array reads as length 0 (its ArrayBuffer was transferred away); only an empty array
  // can be one, so the common path pays one comparison.
  if ((value as NumericArray).byteLength === 0 && isDetached((value as NumericArray).buffer)) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `${name} is a ${dtype.ctor.name} whose ArrayBuffer is detached (transferred away, e.g. by postMessage or structuredClone with transfer), so it holds no elements. Pass a live array: copy it (slice()) before transferring its buffer.`,
      { argument: name, received: `detached ${dtype.ctor.name}` },
    );
  }
  // Likewise out of bounds: a view of a resizable ArrayBuffer that shrank below it reads as empty,
  // but a backend's copy into or out of it throws a raw TypeError.
  if ((value as NumericArray).byteLength === 0 && isOutOfBounds(value as NumericArray)) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `${name} is a ${dtype.ctor.name} that lies outside its resizable ArrayBuffer (the buffer was resized below the view's start or end), so it holds no elements. Grow the buffer back, or pass a view within its current length.`,
      { argument: name, received: `out-of-bounds ${dtype.ctor.name}` },
    );
  }
  return dtype;
}

const NO_ELEMENTS: ArrayLike<number> & ArrayLike<bigint> = [];

/** True when `array` is a view of a resizable ArrayBuffer that no longer covers it. */
function isOutOfBounds(array: NumericArray): boolean {
  const buffer = array.buffer as ArrayBuffer & { resizable?: boolean };
  if (!(buffer instanceof ArrayBuffer) || buffer.resizable !== true) return false;
  try {
    // Any TypedArray method validates the view first; an out-of-bounds one throws.
    array.set(NO_ELEMENTS);
    return false;
  } catch {
    return true;
  }
}

/** True when `buffer` is an ArrayBuffer whose contents were transferred away. */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength !== 0) return false;
  const flag = (buffer as ArrayBuffer & { detached?: boolean }).detached;
  if (flag !== undefined) return flag;
  try {
    // Node 20 has no ArrayBuffer#detached: a view over a detached buffer cannot be made.
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * recv must be send itself (the same bytes: in place) or share none of its bytes: a partial overlap
 * would let the collective overwrite send's elements with results before reading them, silently
 * (MPICH rejects aliased buffers the same way). Compared by underlying buffer and byte range, so
 * two views of one ArrayBuffer or SharedArrayBuffer are caught, and another view of exactly the
 * same bytes counts as in place.
 */
export function checkApartOrSame(operation: string, send: NumericArray, recv: NumericArray): void {
  // In place is the common case; reading .buffer would also move a small on-heap array off the heap.
  if (send === recv || send.buffer !== recv.buffer) return;
  const s0 = send.byteOffset;
  const s1 = s0 + send.byteLength;
  const r0 = recv.byteOffset;
  const r1 = r0 + recv.byteLength;
  if (s1 <= r0 || r1 <= s0 || (s0 === r0 && s1 === r1)) return;
  const from = Math.max(s0, r0);
  const to = Math.min(s1, r1);
  const kind = send.buffer instanceof ArrayBuffer ? 'ArrayBuffer' : 'SharedArrayBuffer';
  throw new CommError(
    'InvalidArgument',
    operation,
    `recv (bytes [${r0}, ${r1})) and send (bytes [${s0}, ${s1})) are views of the same ${kind} and overlap in bytes [${from}, ${to}); the result would overwrite send while it is read. Pass distinct buffers, or recv === send (the same bytes) to work in place.`,
    { argument: 'recv', sendBytes: [s0, s1], recvBytes: [r0, r1], overlapBytes: [from, to] },
  );
}

export function checkRecv(operation: string, send: DType, recv: unknown, expectedLength: number): void {
  const dtype = checkBuffer(operation, 'recv', recv);
  if (dtype !== send) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `recv is a ${dtype.ctor.name} but send is a ${send.ctor.name}; pass a recv of the same type or omit it.`,
      { argument: 'recv', expected: send.name, received: dtype.name },
    );
  }
  const length = (recv as ArrayLike<unknown>).length;
  if (length !== expectedLength) {
    throw new CommError(
      'InvalidBufferSize',
      operation,
      `recv has ${length} elements, expected ${expectedLength}; allocate recv with ${expectedLength} elements or omit it.`,
      { argument: 'recv', expected: expectedLength, received: length },
    );
  }
}

export function checkOp(operation: string, op: unknown): ReduceOp {
  if (!REDUCE_OPS.includes(op as ReduceOp)) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `op must be one of ${REDUCE_OPS.map((o) => `'${o}'`).join(', ')}, got ${describeValue(op)}.`,
      { argument: 'op', received: describeValue(op) },
    );
  }
  return op as ReduceOp;
}

export function checkRoot(operation: string, root: unknown, size: number): number {
  if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= size) {
    throw new CommError(
      'InvalidRoot',
      operation,
      `root must be an integer rank in [0, ${size - 1}], got ${describeValue(root)}.`,
      { root: typeof root === 'number' ? root : String(root), size },
    );
  }
  return root;
}

export function checkIntArray(operation: string, name: string, value: unknown, size: number): number[] {
  const isArrayLike =
    Array.isArray(value) ||
    (ArrayBuffer.isView(value) && !(value instanceof DataView) && !dtypeOf(value)?.bigint);
  if (!isArrayLike) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `${name} must be an array of ${size} non-negative integers (one per rank), got ${describeValue(value)}.`,
      { argument: name },
    );
  }
  // One copy (the caller may change its array while the collective runs), checked as it is made: a
  // plain loop, because every allgatherv with counts runs this.
  const source = value as ArrayLike<unknown>;
  if (source.length !== size) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `${name} has ${source.length} entries but the communicator has ${size} ranks; pass one entry per rank.`,
      { argument: name, expected: size, received: source.length },
    );
  }
  const list = new Array<number>(size);
  for (let i = 0; i < size; i++) {
    const x = source[i];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw new CommError(
        'InvalidArgument',
        operation,
        `${name}[${i}] is ${String(x)}; every entry must be a non-negative integer.`,
        { argument: name, index: i, received: String(x) },
      );
    }
    list[i] = x;
  }
  return list;
}

/** Blocks packed in rank order: displs[r] = counts[0] + … + counts[r-1]. */
export function packedDispls(counts: readonly number[]): number[] {
  const displs: number[] = [];
  let at = 0;
  for (const c of counts) {
    displs.push(at);
    at += c;
  }
  return displs;
}

export interface Layout {
  counts: number[];
  displs: number[];
  /** Elements recv must hold: max(displs[r] + counts[r]). */
  extent: number;
}

/** Validates caller counts/displs for allgatherv on this rank (spec/communicator.md §4.2). */
export function checkLayout(
  operation: string,
  rank: number,
  size: number,
  sendLength: number,
  countsArg: unknown,
  displsArg: unknown,
): Layout {
  const counts = checkIntArray(operation, 'counts', countsArg, size);
  if (counts[rank] !== sendLength) {
    throw new CommError(
      'InvalidBufferSize',
      operation,
      `counts[${rank}] is ${counts[rank]} but this rank's send has ${sendLength} elements; counts[rank] must equal send.length.`,
      { expected: counts[rank], received: sendLength, rank },
    );
  }
  let displs: number[];
  if (displsArg === undefined) {
    displs = packedDispls(counts);
  } else {
    displs = checkIntArray(operation, 'displs', displsArg, size);
    if (!apartInRankOrder(counts, displs)) checkApart(operation, counts, displs);
  }
  let extent = 0;
  for (let r = 0; r < size; r++) extent = Math.max(extent, (displs[r] as number) + (counts[r] as number));
  return { counts, displs, extent };
}

/**
 * The common layout, checked without allocating: non-empty blocks placed in rank order, none
 * overlapping the one before. False does not mean overlap, only that checkApart must sort.
 */
function apartInRankOrder(counts: readonly number[], displs: readonly number[]): boolean {
  let end = 0;
  for (let r = 0; r < counts.length; r++) {
    const count = counts[r] as number;
    if (count === 0) continue;
    const start = displs[r] as number;
    if (start < end) return false;
    end = start + count;
  }
  return true;
}

/** Throws when two non-empty blocks overlap in recv, naming both ranks. */
function checkApart(operation: string, counts: readonly number[], displs: readonly number[]): void {
  const spans = counts
    .map((c, r) => ({ r, start: displs[r] as number, end: (displs[r] as number) + c }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur.start < prev.end) {
      throw new CommError(
        'InvalidArgument',
        operation,
        `the blocks of rank ${prev.r} [${prev.start}, ${prev.end}) and rank ${cur.r} [${cur.start}, ${cur.end}) overlap in recv; displs must place blocks apart.`,
        { ranks: [prev.r, cur.r] },
      );
    }
  }
}

export function checkRegionRequest(operation: string, ctor: unknown, count: unknown): DType {
  const dtype = dtypeByCtor(ctor);
  if (!dtype) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `the element type must be a numeric typed array constructor (${DTYPE_LIST}), got ${describeValue(ctor)}.`,
      { argument: 'ctor' },
    );
  }
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `count must be a non-negative integer, got ${describeValue(count)}.`,
      { argument: 'count', received: String(count) },
    );
  }
  return dtype;
}

/** Allocates a typed array, turning an engine refusal into AllocationFailed. */
export function allocate<T>(operation: string, dtype: DType, count: number): T {
  try {
    return new dtype.ctor(count) as T;
  } catch (cause) {
    throw new CommError(
      'AllocationFailed',
      operation,
      `could not allocate ${count} × ${dtype.name} (${count * dtype.bytes} bytes): ${(cause as Error).message}. Use a smaller count or stream the data in parts.`,
      { count, bytes: count * dtype.bytes },
    );
  }
}

/**
 * A buffer changed between the call and the start of its queued collective (the caller did not
 * await): detached, or its resizable buffer shrank. The error names it (spec §4, detached buffers).
 */
export function changedError(operation: string, buffers: Record<string, NumericArray>): CommError {
  for (const [name, buffer] of Object.entries(buffers)) {
    try {
      checkBuffer(operation, name, buffer);
    } catch (error) {
      return error as CommError;
    }
  }
  return new CommError(
    'InvalidBufferSize',
    operation,
    `${Object.keys(buffers).join(' or ')} changed length between the call and the start of the collective; do not resize or transfer a buffer until its collective has settled.`,
    { arguments: Object.keys(buffers) },
  );
}
