/**
 * Who is in the group and what each rank was last seen doing (spec/backend-shm.md §5.2, §5.5). A
 * rank joins once and departs once: by close(), or when its thread exits without it. A departure is
 * not a failure of the group — joining stays open, and collectives completed before it stand — but
 * every collective needs every rank, so one that needs a departed rank fails naming it. Each rank
 * also records the collective it started and finished last, on its own cache line, so an error
 * about a silent or departed rank can say where that rank stopped.
 */
import { COLLECTIVE_KINDS } from '../../communicator/fingerprint.js';
import { RANK_STRIDE_WORDS, W } from './group.js';

/** The states of a rank's JOINED word. */
export const JOIN_STATE = {
  ABSENT: 0,
  JOINED: 1,
  /** Left by close(). */
  CLOSED: 2,
  /** Its thread exited (returned, threw, process.exit) without close(). */
  EXITED: 3,
} as const;
export type Departure = typeof JOIN_STATE.CLOSED | typeof JOIN_STATE.EXITED;

/** Words of a rank's own line (at `arrived + rank·RANK_STRIDE_WORDS`), written only by that rank. */
export const RANK_LINE = {
  /** Barriers the rank has entered (barrier.ts). */
  EPOCH: 0,
  /** 1 + the sequence number of the last collective the rank started; 0 before the first. */
  STARTED: 1,
  /** 1 + the index in COLLECTIVE_KINDS of that collective's kind. */
  KIND: 2,
  /** 1 + the sequence number of the last collective the rank finished (either way). */
  FINISHED: 3,
  /** 1 + the rank's place in the order of departures (0: still here), so errors name the first to leave. */
  DEPARTED: 4,
} as const;

const KIND_CODES = new Map<string, number>(COLLECTIVE_KINDS.map((k, i) => [k, i + 1]));

export class Presence {
  readonly #words: Int32Array;
  readonly #size: number;
  readonly #lines: number;
  #lastKind = '';
  #lastKindCode = 0;

  constructor(words: Int32Array, size: number, arrivedWord: number) {
    this.#words = words;
    this.#size = size;
    this.#lines = arrivedWord;
  }

  /** False when the rank has joined before (or departed). */
  join(rank: number): boolean {
    return Atomics.compareExchange(this.#words, W.JOINED + rank, JOIN_STATE.ABSENT, JOIN_STATE.JOINED) === 0;
  }

  /** Marks `rank` departed and wakes every waiting rank, so it sees the departure at once. */
  depart(rank: number, how: Departure): void {
    const w = this.#words;
    if (Atomics.compareExchange(w, W.JOINED + rank, JOIN_STATE.JOINED, how) !== JOIN_STATE.JOINED) return;
    const order = Atomics.add(w, W.DEPARTURES, 1);
    Atomics.store(w, this.#lines + rank * RANK_STRIDE_WORDS + RANK_LINE.DEPARTED, order + 1);
    Atomics.notify(w, W.BARRIER);
  }

  /** One load: the hot path's check before each collective. */
  anyDeparted(): boolean {
    return Atomics.load(this.#words, W.DEPARTURES) !== 0;
  }

  /**
   * The first of `ranks` to depart, or -1. Later departures are often consequences of the first (a
   * rank whose collective failed closes), so the error names the cause. A departure whose order is
   * not yet stored (another thread is between its two writes) counts as the latest.
   */
  departedAmong(ranks: Iterable<number>): number {
    let first = -1;
    let firstOrder = Infinity;
    for (const r of ranks) {
      if (Atomics.load(this.#words, W.JOINED + r) < JOIN_STATE.CLOSED) continue;
      const order =
        Atomics.load(this.#words, this.#lines + r * RANK_STRIDE_WORDS + RANK_LINE.DEPARTED) || Infinity;
      if (first === -1 || order < firstOrder) [first, firstOrder] = [r, order];
    }
    return first;
  }

  /** The first departed rank of the group, or -1. */
  firstDeparted(): number {
    return this.departedAmong(Array.from({ length: this.#size }, (_, r) => r));
  }

  started(rank: number, sequence: number, kind: string): void {
    const at = this.#lines + rank * RANK_STRIDE_WORDS;
    // A loop calls one kind over and over: skip the map lookup then (this is on every call's path).
    if (kind !== this.#lastKind) {
      this.#lastKind = kind;
      this.#lastKindCode = KIND_CODES.get(kind) ?? 0;
    }
    // Plain stores on the rank's own line: only diagnostics read them.
    this.#words[at + RANK_LINE.STARTED] = sequence + 1;
    this.#words[at + RANK_LINE.KIND] = this.#lastKindCode;
  }

  finished(rank: number, sequence: number): void {
    this.#words[this.#lines + rank * RANK_STRIDE_WORDS + RANK_LINE.FINISHED] = sequence + 1;
  }

  /** "after collective #4 (allreduce)", "in collective #5 (barrier)", or "before its first collective". */
  lastSeen(rank: number): string {
    const at = this.#lines + rank * RANK_STRIDE_WORDS;
    const started = Atomics.load(this.#words, at + RANK_LINE.STARTED);
    if (started === 0) return 'has not called a collective yet';
    const finished = Atomics.load(this.#words, at + RANK_LINE.FINISHED);
    const kind = COLLECTIVE_KINDS[Atomics.load(this.#words, at + RANK_LINE.KIND) - 1] ?? 'unknown';
    return `${finished === started ? 'last seen after' : 'last seen in'} collective #${started - 1} (${kind})`;
  }

  /** "rank 2 closed its communicator", "rank 2's thread exited without close()", or null. */
  departure(rank: number): string | null {
    const state = Atomics.load(this.#words, W.JOINED + rank);
    if (state === JOIN_STATE.CLOSED) return `rank ${rank} closed its communicator`;
    if (state === JOIN_STATE.EXITED) return `rank ${rank}'s thread exited without close()`;
    return null;
  }
}
