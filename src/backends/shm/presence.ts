/**
 * Who is in the group and what each rank was last seen doing (spec/backend-shm.md §5.2, §5.5, §5.6).
 * In each generation a rank joins once and departs once: by close(), or when its thread exits
 * without it. A departure is not a failure of the group — joining stays open, and collectives
 * completed before it stand — but every collective needs every rank, so one that needs a departed
 * rank fails naming it. The rank whose departure is the last of its generation starts the next one
 * (nextGeneration), where every rank can join again. Each rank also records the collective it
 * started and finished last, on its own cache line, so an error about a silent or departed rank can
 * say where that rank stopped. A rank whose thread ends is gone for good (§5.7): unlike a departure,
 * that outlives the generation, so later generations fail at once naming it instead of waiting for it.
 */
import { COLLECTIVE_KINDS } from '../../communicator/fingerprint.js';
import { COUNT_BITS, controlLayout, RANK_STRIDE_WORDS, W } from './group.js';

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
} as const;

/**
 * Word of a rank's line set (0 → 1, by the rank's own thread as it ends) once its thread has ended
 * after joining (§5.7). Not in RANK_LINE: nextGeneration leaves it, since the rank never comes back.
 */
export const RANK_GONE_WORD = 4;

/**
 * The thread of `rank` is ending, after joining this group at least once (§5.7): it can join no later
 * generation, so every rank waiting for it — in a barrier, or to re-join — wakes and fails naming it.
 */
export function markGone(words: Int32Array, rank: number): void {
  const at = controlLayout(words[W.SIZE] as number).arrived + rank * RANK_STRIDE_WORDS + RANK_GONE_WORD;
  if (Atomics.compareExchange(words, at, 0, 1) !== 0) return;
  Atomics.compareExchange(words, W.FIRST_GONE, 0, rank + 1);
  Atomics.add(words, W.GONE, 1);
  Atomics.notify(words, W.BARRIER);
  Atomics.notify(words, W.GENERATION);
}

/** Whether `rank`'s thread has ended after joining (markGone). */
export function isGone(words: Int32Array, rank: number): boolean {
  const at = controlLayout(words[W.SIZE] as number).arrived + rank * RANK_STRIDE_WORDS + RANK_GONE_WORD;
  return Atomics.load(words, at) !== 0;
}

/** The first rank gone for good, or -1. */
export function firstGone(words: Int32Array): number {
  return Atomics.load(words, W.FIRST_GONE) - 1;
}

const KIND_CODES = new Map<string, number>(COLLECTIVE_KINDS.map((k, i) => [k, i + 1]));

/**
 * Every rank of the generation has departed (§5.6): no rank of it runs a collective any more, so the
 * words a generation uses start over — rank lines, the barrier's count, the departures — and the
 * generation advances before the join words are cleared, so a rank that joins the new one reads
 * the new number. The barrier word keeps its generation bits; SLEEPERS balances itself.
 */
export function nextGeneration(words: Int32Array, size: number): void {
  const lines = controlLayout(size).arrived;
  for (let r = 0; r < size; r++) {
    const at = lines + r * RANK_STRIDE_WORDS;
    for (const word of Object.values(RANK_LINE)) Atomics.store(words, at + word, 0);
  }
  Atomics.and(words, W.BARRIER, ~((1 << COUNT_BITS) - 1));
  Atomics.store(words, W.DEPARTURES, 0);
  Atomics.store(words, W.FIRST_DEPARTED, 0);
  Atomics.add(words, W.GENERATION, 1);
  for (let r = 0; r < size; r++) Atomics.store(words, W.JOINED + r, JOIN_STATE.ABSENT);
  Atomics.notify(words, W.GENERATION);
  // A member of the ended generation still waiting (a splitLocal communicator) looks again.
  Atomics.notify(words, W.BARRIER);
}

export class Presence {
  readonly #words: Int32Array;
  readonly #size: number;
  readonly #lines: number;
  /** The generation this member joined (§5.6). */
  readonly generation: number;
  #lastKind = '';
  #lastKindCode = 0;

  constructor(words: Int32Array, size: number, arrivedWord: number, generation: number) {
    this.#words = words;
    this.#size = size;
    this.#lines = arrivedWord;
    this.generation = generation;
  }

  /**
   * Marks `rank` departed and wakes every waiting rank, so it sees the departure at once. The last
   * departure of the generation starts the next one.
   */
  depart(rank: number, how: Departure): void {
    const w = this.#words;
    if (Atomics.load(w, W.GENERATION) !== this.generation) return;
    if (Atomics.compareExchange(w, W.JOINED + rank, JOIN_STATE.JOINED, how) !== JOIN_STATE.JOINED) return;
    Atomics.compareExchange(w, W.FIRST_DEPARTED, 0, rank + 1);
    const departed = Atomics.add(w, W.DEPARTURES, 1) + 1;
    Atomics.notify(w, W.BARRIER);
    if (departed === this.#size) nextGeneration(w, this.#size);
  }

  /** Three loads on one cache line: the hot path's check before each collective. */
  anyDeparted(): boolean {
    const w = this.#words;
    return Atomics.load(w, W.DEPARTURES) !== 0 || Atomics.load(w, W.GONE) !== 0 || this.ended();
  }

  /**
   * Gone for good (§5.7) and not in this generation: its thread ended before it joined this one, so
   * it will never arrive. (One that joined and then ended departed this generation as EXITED.)
   */
  #goneBefore(rank: number): boolean {
    return Atomics.load(this.#words, W.JOINED + rank) === JOIN_STATE.ABSENT && isGone(this.#words, rank);
  }

  #departed(rank: number): boolean {
    return Atomics.load(this.#words, W.JOINED + rank) >= JOIN_STATE.CLOSED || this.#goneBefore(rank);
  }

  /** Every rank of this member's generation has departed, this one too (§5.6). */
  ended(): boolean {
    return Atomics.load(this.#words, W.GENERATION) !== this.generation;
  }

  /**
   * A departed rank among `ranks`, or -1: a rank gone before this generation began (the earliest
   * cause), else the first to depart this generation when it is among them (a rank that failed
   * before arriving, because of that departure, and then closed is missing and departed too), else
   * the lowest.
   */
  departedAmong(ranks: Iterable<number>): number {
    const gone = firstGone(this.#words);
    const first = Atomics.load(this.#words, W.FIRST_DEPARTED) - 1;
    let firstAmong = -1;
    let lowest = -1;
    for (const r of ranks) {
      if (!this.#departed(r)) continue;
      if (r === gone && this.#goneBefore(r)) return r;
      if (r === first) firstAmong = r;
      if (lowest === -1) lowest = r;
    }
    return firstAmong >= 0 ? firstAmong : lowest;
  }

  /**
   * The rank that departed first, or -1: the cause. A survivor that closed after its collective
   * failed naming that rank may have a lower number, and must not be named in its place.
   */
  firstDeparted(): number {
    const gone = firstGone(this.#words);
    if (gone >= 0 && this.#goneBefore(gone)) return gone;
    const first = Atomics.load(this.#words, W.FIRST_DEPARTED) - 1;
    if (first >= 0) return first;
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
    if (this.#goneBefore(rank)) return `never joined generation ${this.generation}`;
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
    if (this.#goneBefore(rank)) return goneReason(rank);
    return null;
  }
}

/** Why a rank gone for good can never arrive (§5.7). */
export function goneReason(rank: number): string {
  return `rank ${rank}'s thread exited, and a rank whose thread has ended cannot join the shm group again`;
}
