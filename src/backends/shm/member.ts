/**
 * One rank's view of a joined shm group: typed views of the data slots, its fingerprint words, the
 * barrier, and the counters every rank advances in lockstep (round, sequence). A communicator and
 * the communicators splitLocal() returns share one member, because they share the group's words.
 */
import type { DType, NumericArray } from '../../communicator/dtypes.js';
import {
  decodeFingerprint,
  encodeFingerprint,
  FINGERPRINT_WORDS,
  mismatchError,
  type Fingerprint,
} from '../../communicator/fingerprint.js';
import { Barrier, type SpinPolicy } from './barrier.js';
import { controlLayout, RANK_STRIDE_WORDS, W, type ControlLayout } from './group.js';
import { Presence } from './presence.js';

/**
 * Bytes after the fingerprint in each rank's FP line. A payload that fits travels there instead of in
 * a data slot: the reader then takes one cache miss per peer instead of two, and the writer one
 * ownership transfer instead of two (§4.7). 40 bytes: five float64, ten float32, forty uint8.
 */
export const INLINE_BYTES = (RANK_STRIDE_WORDS - FINGERPRINT_WORDS) * 4;

/** A collective that waits in the member's queue; `owner` is the communicator's backend that called it. */
export interface QueuedCollective {
  readonly owner: object;
  start(): void;
  fail(error: unknown): void;
}

export interface MemberOptions {
  words: Int32Array;
  data: SharedArrayBuffer;
  rank: number;
  /** The group generation this member joined (§5.6). */
  generation: number;
  timeoutSecs: number;
  /** 0 disables stall warnings. */
  stallWarningSecs: number;
  /** Where stall warnings go. */
  warn: (message: string) => void;
  /** Whether to spin before sleeping (barrier.ts SpinPolicy, §3.3.1). */
  spin: SpinPolicy;
  /** Cores the group's ranks share. */
  cores: number;
  /** Worker threads may block in Atomics.wait; the main thread must not. */
  canBlock: boolean;
}

export class GroupMember {
  readonly words: Int32Array;
  readonly data: SharedArrayBuffer;
  readonly rank: number;
  readonly size: number;
  readonly slotBytes: number;
  readonly timeoutSecs: number;
  /** Seconds between stall warnings; 0: none. */
  readonly stallWarningSecs: number;
  readonly canBlock: boolean;
  readonly layout: ControlLayout;
  readonly barrier: Barrier;
  readonly presence: Presence;
  /** Data rounds completed by every rank so far; round parity picks the half (§3.1). */
  round = 0;
  /**
   * The 0-based number of the collective in progress: how many this member started before it
   * (spec/communicator.md §1; equal on every rank). -1 before the first.
   */
  sequence = -1;
  /** A collective of this member is in flight: of any communicator sharing it, or a region fence. */
  busy = false;
  /** Collectives waiting for the one in flight, in call order (§3.5): one barrier sequence per rank. */
  readonly queue: QueuedCollective[] = [];
  /** When a collective last returned through the event loop (a macrotask), for §3.6. */
  lastYield = performance.now();
  /** Work completed synchronously since the clock was last read (YIELD_CHECK_UNITS). */
  sinceClock = 0;
  readonly #slotViews: Array<NumericArray | undefined> = [];
  readonly #halfViews: Array<NumericArray | undefined> = [];
  readonly #inlineViews: Array<NumericArray | undefined> = [];
  readonly #mine: Int32Array;
  /** The fingerprint #mine encodes. */
  #mineOf: Fingerprint | null = null;

  constructor(options: MemberOptions) {
    this.words = options.words;
    this.data = options.data;
    this.rank = options.rank;
    this.size = options.words[W.SIZE] as number;
    this.slotBytes = options.words[W.SLOT_BYTES] as number;
    this.timeoutSecs = options.timeoutSecs;
    this.stallWarningSecs = options.stallWarningSecs;
    this.canBlock = options.canBlock;
    this.layout = controlLayout(this.size);
    this.presence = new Presence(this.words, this.size, this.layout.arrived, options.generation);
    this.barrier = new Barrier(this.words, {
      rank: this.rank,
      size: this.size,
      timeoutSecs: this.timeoutSecs,
      stallWarningSecs: options.stallWarningSecs,
      spin: options.spin,
      cores: options.cores,
      arrivedWord: this.layout.arrived,
      presence: this.presence,
      warn: options.warn,
    });
    this.#mine = new Int32Array(FINGERPRINT_WORDS);
  }

  /** The half the next data round uses; every rank calls this once per round. */
  nextHalf(): number {
    return this.round++ & 1;
  }

  /** Elements of `dtype` one slot holds. */
  slotElements(dtype: DType): number {
    return this.slotBytes / dtype.bytes;
  }

  /** The whole slot of `rank` in `half`, as a `dtype` array (cached: no allocation per call). */
  slot(dtype: DType, half: number, rank: number): NumericArray {
    const key = (dtype.code * 2 + half) * this.size + rank;
    let view = this.#slotViews[key];
    if (!view) {
      const offset = (half * this.size + rank) * this.slotBytes;
      view = new dtype.ctor(this.data, offset, this.slotBytes / dtype.bytes);
      this.#slotViews[key] = view;
    }
    return view;
  }

  /** Elements of `dtype` that fit in a rank's inline area. */
  inlineElements(dtype: DType): number {
    return Math.floor(INLINE_BYTES / dtype.bytes);
  }

  /** The inline area after `rank`'s fingerprint in `half` (§4.7), as a `dtype` array (cached). */
  inline(dtype: DType, half: number, rank: number): NumericArray {
    const key = (dtype.code * 2 + half) * this.size + rank;
    let view = this.#inlineViews[key];
    if (!view) {
      const byte = (this.#fingerprintWord(half, rank) + FINGERPRINT_WORDS) * 4;
      view = new dtype.ctor(this.words.buffer, byte, this.inlineElements(dtype));
      this.#inlineViews[key] = view;
    }
    return view;
  }

  /** Where `rank`'s payload is in `half`: its inline area (when the plan chose it) or its slot. */
  source(dtype: DType, half: number, rank: number, inline: boolean): NumericArray {
    return inline ? this.inline(dtype, half, rank) : this.slot(dtype, half, rank);
  }

  /** All slots of `half` as one array (broadcast streams through the whole half). */
  half(dtype: DType, half: number): NumericArray {
    const key = dtype.code * 2 + half;
    let view = this.#halfViews[key];
    if (!view) {
      const bytes = this.size * this.slotBytes;
      view = new dtype.ctor(this.data, half * bytes, bytes / dtype.bytes);
      this.#halfViews[key] = view;
    }
    return view;
  }

  #fingerprintWord(half: number, rank: number): number {
    return this.layout.fingerprints + (half * this.size + rank) * RANK_STRIDE_WORDS;
  }

  /** Protocol step "write": this rank's fingerprint, published by the barrier that follows. */
  writeFingerprint(half: number, fp: Fingerprint): void {
    // Fingerprints are immutable and the front end reuses them for repeated calls: encode once.
    if (fp !== this.#mineOf) {
      encodeFingerprint(fp, this.#mine);
      this.#mineOf = fp;
    }
    const mine = this.#mine;
    const words = this.words;
    const at = this.#fingerprintWord(half, this.rank);
    // Six plain stores: TypedArray.set costs more than the copy at this size.
    for (let i = 0; i < FINGERPRINT_WORDS; i++) words[at + i] = mine[i] as number;
  }

  /** Protocol step "check", right after the first barrier: every rank throws the same error. */
  checkFingerprints(half: number, operation: string): void {
    const words = this.words;
    const mine = this.#mine;
    for (let r = 0; r < this.size; r++) {
      if (r === this.rank) continue;
      const at = this.#fingerprintWord(half, r);
      for (let i = 0; i < FINGERPRINT_WORDS; i++) {
        if (words[at + i] !== mine[i]) throw this.#mismatch(half, operation);
      }
    }
  }

  #mismatch(half: number, operation: string): Error {
    const byRank = Array.from({ length: this.size }, (_, r) => {
      const at = this.#fingerprintWord(half, r);
      return decodeFingerprint(this.words.subarray(at, at + FINGERPRINT_WORDS));
    });
    return mismatchError(operation, this.sequence, byRank);
  }
}
