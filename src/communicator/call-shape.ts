/**
 * Repeated call shapes (spec/communicator.md §6.4). A solver calls the same small collective with
 * the same arrays thousands of times; re-running every precondition and building a new fingerprint
 * each time is a third of such a call. The front end remembers the last shape of each kind that
 * passed every check and skips the checks when the next call has exactly that shape.
 *
 * Why a hit needs no checks: the shape is keyed by array identity and length. A typed array's
 * dtype and byte offset never change; detaching it (or shrinking its resizable buffer past it)
 * makes its length 0, and only arrays of length ≥ 1 are remembered, so a detached or resized array
 * misses and takes the full checks. Same arrays, same offsets, same lengths: the same aliasing
 * verdict. Ranks still compare fingerprints on every call, so mismatches are caught as before.
 */
import type { DType, DTypeName, NumericArray, ReduceOp } from './dtypes.js';
import { fingerprint, type CollectiveKind, type Fingerprint } from './fingerprint.js';

/**
 * Arrays of more than this many bytes are not remembered: the per-call checks are negligible beside
 * a large collective. A remembered array stays reachable until the next call of its kind or close()
 * (and with it its buffer, as any view keeps its buffer). Its buffer is not inspected: reading
 * `.buffer` moves a small on-heap array's elements off the heap, which costs more than the checks.
 */
export const SHAPE_CACHE_MAX_BYTES = 64 * 1024;

/** True when `array` may be remembered: non-empty (so a later detach is seen) and small. */
export function rememberable(array: NumericArray | undefined): boolean {
  return array === undefined || (array.length > 0 && array.byteLength <= SHAPE_CACHE_MAX_BYTES);
}

/** The last allreduce(send, op, recv) that passed every check; recv undefined when it was omitted. */
export class AllreduceShape {
  readonly #n: number;
  constructor(
    readonly send: NumericArray,
    readonly op: ReduceOp,
    readonly recv: NumericArray | undefined,
    readonly dtype: DType,
    readonly fp: Fingerprint,
  ) {
    this.#n = send.length;
  }

  matches(send: NumericArray, op: ReduceOp, recv: NumericArray | undefined): boolean {
    return (
      send === this.send &&
      op === this.op &&
      recv === this.recv &&
      send.length === this.#n &&
      (recv === undefined || recv.length === this.#n)
    );
  }
}

/** The last broadcast(buf, root) that passed every check. */
export class BroadcastShape {
  readonly #n: number;
  constructor(
    readonly buf: NumericArray,
    readonly root: number,
    readonly fp: Fingerprint,
  ) {
    this.#n = buf.length;
  }

  matches(buf: NumericArray, root: number): boolean {
    return buf === this.buf && root === this.root && buf.length === this.#n;
  }
}

/**
 * The last fingerprint of one kind, by value: a call with new arrays of a known shape (e.g.
 * `allreduce(Float64Array.of(x))` in a loop) reuses the same immutable fingerprint object, and a
 * backend may cache its encoding by identity.
 */
export class FingerprintCache {
  #last: Fingerprint | null = null;
  constructor(readonly kind: CollectiveKind) {}

  get(dtype: DTypeName, count: number, op: ReduceOp | null, root: number): Fingerprint {
    const last = this.#last;
    if (
      last !== null &&
      last.dtype === dtype &&
      last.count === count &&
      last.op === op &&
      last.root === root
    ) {
      return last;
    }
    return (this.#last = fingerprint(this.kind, { dtype, count, op, root }));
  }
}

/** The barrier's fingerprint: the same for every call, made once. */
export const BARRIER_FINGERPRINT: Fingerprint = fingerprint('barrier');
