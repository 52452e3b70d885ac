/**
 * The collectives as plans (spec/backend-shm.md §4): a plan is a fixed number of barriers with
 * work between them. step(k) runs the work before barrier k, and step(barriers) the work after the
 * last one. The driver (shm-backend.ts) decides how each barrier is waited for, so one plan serves
 * both the blocking worker-thread path and the main thread's asynchronous path.
 *
 * Every plan starts a data round with nextHalf() and writes its fingerprint there; the first
 * step after the first barrier checks all fingerprints, so on a mismatch every rank stops after
 * exactly one round and no data reaches the caller.
 */
import type { DType, NumericArray, ReduceOp } from '../../communicator/dtypes.js';
import type { Fingerprint } from '../../communicator/fingerprint.js';
import { reduceStepFor, type ReduceStep } from '../../communicator/reduce.js';
import type { GroupMember } from './member.js';

export interface Plan {
  readonly operation: string;
  readonly barriers: number;
  /** Payload bytes this rank moves (its send, or for broadcast the buffer): paces the yield (§3.6). */
  readonly bytes: number;
  step(k: number): void;
}

/**
 * Below this chunk size every rank reduces the whole chunk itself, straight into its recv: one
 * barrier per chunk. From it on, ranks reduce disjoint element ranges in place in slot 0 and then
 * copy the result: two barriers, but the arithmetic is spread over every core (§4.2).
 */
export const SPLIT_REDUCTION_MIN_BYTES = 64 * 1024;
/** Up to this many elements a plain loop copies faster than TypedArray.set (a native call). */
const SMALL_COPY_ELEMENTS = 16;
/** Split boundaries fall on multiples of this many elements, so no two ranks write one cache line. */
const SPLIT_ALIGN_ELEMENTS = 64;

export class BarrierPlan implements Plan {
  readonly barriers = 1;
  readonly bytes = 0;
  #half = 0;
  constructor(
    private readonly m: GroupMember,
    private readonly fp: Fingerprint,
    readonly operation: string = fp.kind,
  ) {}
  /** This plan can run a barrier of `fp` again (plans are reused for repeated calls: shm-backend.ts). */
  fits(fp: Fingerprint): boolean {
    return fp === this.fp;
  }
  step(k: number): void {
    if (k === 0) {
      this.#half = this.m.nextHalf();
      this.m.writeFingerprint(this.#half, this.fp);
    } else {
      this.m.checkFingerprints(this.#half, this.operation);
    }
  }
}

/**
 * createSharedRegion's agreement barrier. The region's number is the member's collective sequence:
 * the one counter every rank advances for every collective it runs — a region asked for, a call
 * abandoned on one rank for bad arguments, a mismatch — so the leader's announcement and every
 * rank's wait name the same region whatever failed before (a count of regions asked for would
 * differ on a rank whose request was rejected before it reached the backend).
 */
export class RegionAgreementPlan extends BarrierPlan {
  sequence = 0;
  constructor(
    private readonly member: GroupMember,
    fp: Fingerprint,
  ) {
    super(member, fp);
  }
  override step(k: number): void {
    if (k === 0) this.sequence = this.member.sequence;
    super.step(k);
  }
}

export class AllreducePlan implements Plan {
  readonly operation: string;
  readonly barriers: number;
  readonly bytes: number;
  readonly #n: number;
  readonly #perChunk: number;
  readonly #chunks: number;
  readonly #split: boolean;
  /** The payload fits in the inline areas of the FP lines (§4.7). */
  readonly #inline: boolean;
  readonly #reduce: ReduceStep;
  readonly #op: ReduceOp;
  #half = 0;

  constructor(
    private readonly m: GroupMember,
    private readonly fp: Fingerprint,
    private readonly dtype: DType,
    private readonly send: NumericArray,
    private readonly recv: NumericArray,
    op: ReduceOp,
  ) {
    this.operation = fp.kind;
    this.#n = send.length;
    this.#perChunk = m.slotElements(dtype);
    this.#chunks = Math.max(1, Math.ceil(this.#n / this.#perChunk));
    this.#split = m.size > 1 && Math.min(this.#n, this.#perChunk) * dtype.bytes >= SPLIT_REDUCTION_MIN_BYTES;
    this.barriers = this.#split ? 2 * this.#chunks : this.#chunks;
    this.bytes = this.#n * dtype.bytes;
    this.#inline = this.#n <= m.inlineElements(dtype);
    this.#reduce = reduceStepFor(dtype, op);
    this.#op = op;
  }

  /** This plan can run the same call again: the same fingerprint object, arrays, lengths and op. */
  fits(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): boolean {
    return (
      fp === this.fp &&
      send === this.send &&
      recv === this.recv &&
      op === this.#op &&
      send.length === this.#n &&
      recv.length === this.#n
    );
  }

  step(k: number): void {
    if (this.#split) {
      const chunk = k >> 1;
      if ((k & 1) === 0) {
        if (chunk > 0) this.#copyResult(chunk - 1);
        if (chunk < this.#chunks) this.#write(chunk);
      } else {
        if (chunk === 0) this.m.checkFingerprints(this.#half, this.operation);
        this.#reduceMyRange(chunk);
      }
    } else {
      if (k > 0) {
        if (k === 1) this.m.checkFingerprints(this.#half, this.operation);
        this.#reduceWhole(k - 1);
      }
      if (k < this.#chunks) this.#write(k);
    }
  }

  #length(chunk: number): number {
    return Math.min(this.#perChunk, this.#n - chunk * this.#perChunk);
  }

  /** Step "write": this rank's contribution to the chunk goes into its slot of a fresh half. */
  #write(chunk: number): void {
    const m = this.m;
    this.#half = m.nextHalf();
    if (chunk === 0) m.writeFingerprint(this.#half, this.fp);
    const mine = m.source(this.dtype, this.#half, m.rank, this.#inline) as Float64Array;
    const send = this.send as Float64Array;
    if (this.#chunks > 1) {
      const lo = chunk * this.#perChunk;
      mine.set(send.subarray(lo, lo + this.#length(chunk)));
    } else if (this.#n <= SMALL_COPY_ELEMENTS) {
      for (let i = 0; i < this.#n; i++) mine[i] = send[i] as number;
    } else mine.set(send);
  }

  /** One-barrier path: recv[chunk] = slot0 ∘ slot1 ∘ … in rank order, computed by every rank. */
  #reduceWhole(chunk: number): void {
    const m = this.m;
    const length = this.#length(chunk);
    const lo = chunk * this.#perChunk;
    const out = (this.#chunks === 1 ? this.recv : this.recv.subarray(lo, lo + length)) as Float64Array;
    const first = m.source(this.dtype, this.#half, 0, this.#inline) as Float64Array;
    if (length <= SMALL_COPY_ELEMENTS) for (let i = 0; i < length; i++) out[i] = first[i] as number;
    else out.set(first.subarray(0, length));
    for (let r = 1; r < m.size; r++) {
      this.#reduce(out, m.source(this.dtype, this.#half, r, this.#inline), 0, length);
    }
  }

  /** This rank's element range of a chunk in the two-barrier path: [start, end). */
  #myRange(length: number): [number, number] {
    const size = this.m.size;
    const per = Math.ceil(length / size / SPLIT_ALIGN_ELEMENTS) * SPLIT_ALIGN_ELEMENTS;
    const start = Math.min(length, this.m.rank * per);
    return [start, Math.min(length, start + per)];
  }

  /**
   * Two-barrier path, between the barriers: this rank's element range, in place in slot 0, then
   * straight into recv while the result is still in this core's cache.
   */
  #reduceMyRange(chunk: number): void {
    const m = this.m;
    const [start, end] = this.#myRange(this.#length(chunk));
    if (start === end) return;
    const acc = m.slot(this.dtype, this.#half, 0);
    for (let r = 1; r < m.size; r++) this.#reduce(acc, m.slot(this.dtype, this.#half, r), start, end);
    (this.recv as Float64Array).set(
      (acc as Float64Array).subarray(start, end),
      chunk * this.#perChunk + start,
    );
  }

  /** Two-barrier path, after the second barrier: copy out the ranges the other ranks reduced. */
  #copyResult(chunk: number): void {
    const length = this.#length(chunk);
    const [start, end] = this.#myRange(length);
    const result = this.m.slot(this.dtype, this.#half, 0) as Float64Array;
    const recv = this.recv as Float64Array;
    const lo = chunk * this.#perChunk;
    if (start > 0) recv.set(result.subarray(0, start), lo);
    if (end < length) recv.set(result.subarray(end, length), lo + end);
  }
}

export class AllgathervPlan implements Plan {
  readonly operation: string;
  readonly barriers: number;
  readonly bytes: number;
  readonly #perRound: number;
  readonly #inline: boolean;
  #half = 0;

  constructor(
    private readonly m: GroupMember,
    private readonly fp: Fingerprint,
    private readonly dtype: DType,
    private readonly send: NumericArray,
    private readonly recv: NumericArray,
    private readonly counts: readonly number[],
    private readonly displs: readonly number[],
  ) {
    this.operation = fp.kind;
    this.#perRound = m.slotElements(dtype);
    const largest = counts.reduce((a, b) => Math.max(a, b), 0);
    this.#inline = largest <= m.inlineElements(dtype);
    this.barriers = Math.max(1, Math.ceil(largest / this.#perRound));
    this.bytes = recv.length * dtype.bytes;
  }

  step(k: number): void {
    if (k > 0) {
      if (k === 1) this.m.checkFingerprints(this.#half, this.operation);
      this.#read(k - 1);
    }
    if (k < this.barriers) this.#write(k);
  }

  #part(rank: number, round: number): number {
    const left = (this.counts[rank] as number) - round * this.#perRound;
    return Math.max(0, Math.min(this.#perRound, left));
  }

  #write(round: number): void {
    const m = this.m;
    this.#half = m.nextHalf();
    if (round === 0) m.writeFingerprint(this.#half, this.fp);
    const length = this.#part(m.rank, round);
    if (length === 0) return;
    const lo = round * this.#perRound;
    const mine = m.source(this.dtype, this.#half, m.rank, this.#inline) as Float64Array;
    const send = this.send as Float64Array;
    if (length <= SMALL_COPY_ELEMENTS) for (let i = 0; i < length; i++) mine[i] = send[lo + i] as number;
    else mine.set(send.subarray(lo, lo + length));
  }

  #read(round: number): void {
    const m = this.m;
    const recv = this.recv as Float64Array;
    for (let r = 0; r < m.size; r++) {
      const length = this.#part(r, round);
      if (length === 0) continue;
      const from = m.source(this.dtype, this.#half, r, this.#inline) as Float64Array;
      const at = (this.displs[r] as number) + round * this.#perRound;
      if (length <= SMALL_COPY_ELEMENTS) for (let i = 0; i < length; i++) recv[at + i] = from[i] as number;
      else recv.set(from.subarray(0, length), at);
    }
  }
}

/** The root streams through the whole half (every slot), the others copy out after each barrier. */
export class BroadcastPlan implements Plan {
  readonly operation: string;
  readonly barriers: number;
  readonly bytes: number;
  readonly #perRound: number;
  readonly #inline: boolean;
  readonly #length: number;
  #half = 0;

  constructor(
    private readonly m: GroupMember,
    private readonly fp: Fingerprint,
    private readonly dtype: DType,
    private readonly buf: NumericArray,
    private readonly root: number,
  ) {
    this.operation = fp.kind;
    this.#length = buf.length;
    this.#perRound = m.size * m.slotElements(dtype);
    this.barriers = Math.max(1, Math.ceil(buf.length / this.#perRound));
    this.bytes = buf.length * dtype.bytes;
    this.#inline = buf.length <= m.inlineElements(dtype);
  }

  /** This plan can run the same call again: the same fingerprint object, array, length and root. */
  fits(fp: Fingerprint, buf: NumericArray, root: number): boolean {
    return fp === this.fp && buf === this.buf && root === this.root && buf.length === this.#length;
  }

  step(k: number): void {
    const m = this.m;
    if (k > 0) {
      if (k === 1) m.checkFingerprints(this.#half, this.operation);
      if (m.rank !== this.root) this.#read(k - 1);
    }
    if (k < this.barriers) {
      this.#half = m.nextHalf();
      if (k === 0) m.writeFingerprint(this.#half, this.fp);
      if (m.rank === this.root) this.#write(k);
    }
  }

  #bounds(round: number): [number, number] {
    const lo = round * this.#perRound;
    return [lo, Math.min(this.buf.length, lo + this.#perRound)];
  }

  /** The root's inline area for a small payload, else the whole half. */
  #area(): Float64Array {
    const m = this.m;
    return (
      this.#inline ? m.inline(this.dtype, this.#half, this.root) : m.half(this.dtype, this.#half)
    ) as Float64Array;
  }

  #write(round: number): void {
    const [lo, hi] = this.#bounds(round);
    const area = this.#area();
    const buf = this.buf as Float64Array;
    if (hi - lo <= SMALL_COPY_ELEMENTS) for (let i = lo; i < hi; i++) area[i - lo] = buf[i] as number;
    else area.set(buf.subarray(lo, hi));
  }

  #read(round: number): void {
    const [lo, hi] = this.#bounds(round);
    const area = this.#area();
    const buf = this.buf as Float64Array;
    if (hi - lo <= SMALL_COPY_ELEMENTS) for (let i = lo; i < hi; i++) buf[i] = area[i - lo] as number;
    else buf.set(area.subarray(0, hi - lo), lo);
  }
}
