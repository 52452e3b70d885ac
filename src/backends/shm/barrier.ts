/**
 * The group barrier: an arrival counter and a generation counter (spec/backend-shm.md §3.2), packed
 * in one word. A rank adds itself to the counter and learns the generation in the same atomic add;
 * the last arriver resets the counter and advances the generation in one atomic add, so a rank
 * released from barrier g that races into barrier g+1 adds to a counter that already belongs to
 * g+1 (no ABA), and one cache line carries the whole barrier. Waiting spins briefly (a wake-up from
 * Atomics.wait costs ~60 µs, a spin iteration ~0.1 µs) — only while every rank it still waits for
 * can hold a core besides its own (§3.3.1) — then sleeps in bounded slices so an abort or the
 * deadline is seen within WAIT_SLICE_MS even if no notify arrives. While it waits, a rank
 * watches its peers: a departed rank it waits for fails the wait at once (§5.5), a stall warning
 * repeats every stallWarningSecs, and past timeoutSecs every waiting rank throws Timeout naming the
 * silent ranks (§5.3).
 */
import { CommError, stallWarningMessage } from '../../communicator/errors.js';
import { waitAsync } from '../../communicator/wasm.js';
import {
  abortGroup,
  ABORT_CAUSE,
  COUNT_BITS,
  GENERATION_UNIT,
  RANK_STRIDE_WORDS,
  readAbort,
  W,
} from './group.js';
import type { Presence } from './presence.js';

/** Longest single sleep: bounds how late a rank notices an abort nobody notified it of. */
export const WAIT_SLICE_MS = 100;
/** Spin iterations before the first clock read: most barriers open within these (~0.1 µs each). */
export const FAST_SPIN_ITERATIONS = 256;
/** Iterations between clock reads once the spin is timed. */
const SPIN_ITERATIONS_PER_CLOCK_READ = 1024;
/**
 * How long a rank spins before it sleeps, when every rank can have its own core. It must exceed the
 * ~60 µs a wake-up from Atomics.wait costs: otherwise a rank that slept arrives late, its partner
 * runs out of spin and sleeps too, and the pair settles into paying a wake-up per barrier.
 */
export const SPIN_BUDGET_MS = 5;
/**
 * When ranks outnumber cores, the longest spin of a rank whose missing peers can all run beside it
 * (§3.3.1): about one wake-up, so a spin that fails costs no more than the sleep it replaced.
 */
export const OVERSUBSCRIBED_SPIN_BUDGET_MS = 0.05;
/** The adaptive budget (§3.3.1) halves on a failed spin; below this it stops spinning (0). */
export const MIN_ADAPTIVE_SPIN_MS = 0.004;
/** spin 'on' in a group with more ranks than cores: spin this long (ms) before sleeping, as before §3.3.1. */
export const SPIN_FIRST_OVERSUBSCRIBED_MS = 0.01;

/**
 * How a rank waits in the barrier (spec/backend-shm.md §3.3.1). `auto`: spin only while the ranks it
 * still waits for can each have a core besides its own (always, when the group has no more ranks
 * than cores), then sleep. `on`: always spin up to SPIN_BUDGET_MS first, as if every rank had a
 * core. `off`: never spin; sleep at once. The result of every collective is the same either way.
 */
export type SpinPolicy = 'auto' | 'on' | 'off';
/** The spin policies, for validating an option. */
export const SPIN_POLICIES: readonly SpinPolicy[] = ['auto', 'on', 'off'];
/**
 * How long a worker thread sleeps synchronously (Atomics.wait: the cheapest wake-up) before it
 * waits asynchronously instead: a collective that has not completed by then returns a pending
 * promise, and the thread's own code runs again (§3.3).
 */
export const BLOCK_BUDGET_MS = 50;

export interface BarrierOptions {
  rank: number;
  size: number;
  timeoutSecs: number;
  /** Seconds without progress before the first stall warning, and between repeats; 0: none. */
  stallWarningSecs: number;
  /** Whether to spin before sleeping (§3.3.1). */
  spin: SpinPolicy;
  /** Cores the group's ranks share (os.availableParallelism()): when `size` exceeds it, `auto` spins less. */
  cores: number;
  arrivedWord: number;
  presence: Presence;
  /** Where stall warnings go. */
  warn: (message: string) => void;
}

export class Barrier {
  readonly #words: Int32Array;
  readonly #rank: number;
  readonly #size: number;
  readonly #timeoutMs: number;
  readonly #stallMs: number;
  readonly #spin: SpinPolicy;
  /** `auto` and the group fits the cores: every rank can spin on its own core. */
  readonly #fits: boolean;
  /** A waiting rank may spin only while fewer ranks than this are still to arrive (§3.3.1). */
  readonly #spinBelowMissing: number;
  readonly #arrived: number;
  /** Oversubscribed `auto` only: the current spin budget, adapted to how spins fared (§3.3.1). */
  #adaptiveMs = OVERSUBSCRIBED_SPIN_BUDGET_MS;
  /** The coming sleep replaces a spin the adaptive budget skipped: block() learns from its length. */
  #slept = false;
  readonly #presence: Presence;
  readonly #warn: (message: string) => void;
  /** Barriers this rank has entered; every rank enters the same ones, so epochs agree. */
  #epoch = 0;
  /** When the current wait began (its first clock read): the deadline and stall warnings count from it. */
  #waitStart = 0;
  /** When the next stall warning is due (Infinity: disabled). */
  #nextWarning = Infinity;

  constructor(words: Int32Array, options: BarrierOptions) {
    this.#words = words;
    this.#rank = options.rank;
    this.#size = options.size;
    this.#timeoutMs = options.timeoutSecs * 1000;
    this.#stallMs = options.stallWarningSecs * 1000;
    this.#spin = options.spin;
    this.#fits = options.size <= options.cores;
    // This rank's core is taken by its spin; each missing rank needs one of the others.
    this.#spinBelowMissing = options.cores;
    this.#arrived = options.arrivedWord;
    this.#presence = options.presence;
    this.#warn = options.warn;
  }

  /** Step 1: announce arrival. Returns the generation to wait past. */
  arrive(): number {
    const w = this.#words;
    this.#epoch++;
    // A plain store: only a timeout reads it, as a diagnosis, and the add below orders it anyway.
    w[this.#arrived + this.#rank * RANK_STRIDE_WORDS] = this.#epoch;
    // The value before this rank's increment holds the generation of the barrier it is in.
    const before = Atomics.add(w, W.BARRIER, 1);
    if ((before & (GENERATION_UNIT - 1)) === this.#size - 1) {
      // Last to arrive: count back to 0 and generation + 1, in one atomic step.
      Atomics.add(w, W.BARRIER, GENERATION_UNIT - this.#size);
      if (Atomics.load(w, W.SLEEPERS) > 0) Atomics.notify(w, W.BARRIER);
    }
    return before >>> COUNT_BITS;
  }

  /**
   * Step 2a: true when the barrier opened within the spin budget. When ranks outnumber cores a
   * rank spins only if every rank still to arrive can run on another core at the same time (fewer
   * missing than cores), and only for the adaptive budget; otherwise its spin would hold the core
   * a missing rank needs, and it sleeps at once (§3.3.1).
   */
  spin(generation: number): boolean {
    const w = this.#words;
    const now = Atomics.load(w, W.BARRIER);
    if (now >>> COUNT_BITS !== generation) return true;
    this.#slept = false;
    if (this.#spin === 'off') return this.#sleepAtOnce();
    if (this.#fits) return this.#spinFor(generation, SPIN_BUDGET_MS);
    // 'on' in an oversubscribed group: the spin-first policy before §3.3.1, with its short budget
    // (the full SPIN_BUDGET_MS there made each wait hold a core a missing rank needed: ~4 ms a call
    // at 4 ranks on 2 cores).
    if (this.#spin === 'on') return this.#spinFor(generation, SPIN_FIRST_OVERSUBSCRIBED_MS);
    const missing = this.#size - (now & (GENERATION_UNIT - 1));
    if (missing >= this.#spinBelowMissing || this.#adaptiveMs === 0) {
      // Learn whether a spin would have paid: block() measures the wait (#learn).
      this.#slept = missing < this.#spinBelowMissing;
      return this.#sleepAtOnce();
    }
    const opened = this.#spinFor(generation, this.#adaptiveMs);
    this.#adaptiveMs = opened
      ? Math.min(OVERSUBSCRIBED_SPIN_BUDGET_MS, this.#adaptiveMs * 2)
      : this.#adaptiveMs / 2 < MIN_ADAPTIVE_SPIN_MS
        ? 0
        : this.#adaptiveMs / 2;
    return opened;
  }

  #sleepAtOnce(): false {
    this.#startWait(performance.now());
    return false;
  }

  /** Spins until the generation moves (true) or `budgetMs` has passed (false). */
  #spinFor(generation: number, budgetMs: number): boolean {
    const w = this.#words;
    for (let i = FAST_SPIN_ITERATIONS; i > 0; i--) {
      if (Atomics.load(w, W.BARRIER) >>> COUNT_BITS !== generation) return true;
    }
    const start = performance.now();
    this.#startWait(start);
    const until = start + budgetMs;
    do {
      for (let i = SPIN_ITERATIONS_PER_CLOCK_READ; i > 0; i--) {
        if (Atomics.load(w, W.BARRIER) >>> COUNT_BITS !== generation) return true;
      }
    } while (performance.now() < until);
    return false;
  }

  /**
   * After a sleep that the adaptive spin skipped: a wait shorter than OVERSUBSCRIBED_SPIN_BUDGET_MS
   * (wake-up included) means a spin would have caught the barrier open, so spinning resumes at the
   * smallest budget; it doubles with each spin that succeeds and halves with each that fails.
   */
  #learn(): void {
    if (!this.#slept) return;
    this.#slept = false;
    if (performance.now() - this.#waitStart < OVERSUBSCRIBED_SPIN_BUDGET_MS) {
      this.#adaptiveMs = Math.max(this.#adaptiveMs, MIN_ADAPTIVE_SPIN_MS);
    }
  }

  /** The wait's clock starts: the deadline and stall warnings count from `now` (§5.3). */
  #startWait(now: number): void {
    this.#waitStart = now;
    this.#nextWarning = this.#stallMs > 0 ? now + this.#stallMs : Infinity;
  }

  /**
   * Step 2b (worker threads): sleep until the barrier opens, for at most BLOCK_BUDGET_MS; throws on
   * abort, departure or timeout. False when the budget ran out: the caller then waits
   * asynchronously, so its own thread can run (and, say, close the communicator with the
   * collective in flight).
   */
  block(generation: number, operation: string, sequence: number): boolean {
    const w = this.#words;
    const until = performance.now() + BLOCK_BUDGET_MS;
    Atomics.add(w, W.SLEEPERS, 1);
    try {
      for (;;) {
        const now = Atomics.load(w, W.BARRIER);
        if (now >>> COUNT_BITS !== generation) {
          this.#learn();
          return true;
        }
        const next = this.#watch(operation, sequence);
        const left = until - performance.now();
        if (left <= 0) return false;
        // Another rank's arrival changes the word too: wait then returns at once and we re-check.
        Atomics.wait(w, W.BARRIER, now, Math.min(left, next, WAIT_SLICE_MS));
      }
    } finally {
      Atomics.sub(w, W.SLEEPERS, 1);
    }
  }

  /**
   * Step 2b (main thread, must not block): the same loop with Atomics.waitAsync. A pending waitAsync
   * does not keep a Node.js event loop alive, so a worker thread whose only work is this collective
   * would exit with code 0 mid-wait: a ref'd timer holds the loop open until the wait settles.
   */
  async wait(generation: number, operation: string, sequence: number, closed: () => boolean): Promise<void> {
    const w = this.#words;
    const keepAlive = setInterval(() => {}, WAIT_SLICE_MS);
    Atomics.add(w, W.SLEEPERS, 1);
    try {
      for (;;) {
        const now = Atomics.load(w, W.BARRIER);
        if (now >>> COUNT_BITS !== generation) {
          // Every rank left while this one waited (its parent communicator closed): the barrier
          // word now counts a later generation's barriers, and the slots hold its data (§5.6).
          if (this.#presence.ended()) throw this.endedError(operation);
          return;
        }
        if (closed()) {
          throw new CommError(
            'InvalidCommunicator',
            operation,
            'the communicator was closed while this call waited.',
            { rank: this.#rank },
          );
        }
        const next = this.#watch(operation, sequence);
        const waiting = waitAsync(w, W.BARRIER, now, Math.min(next, WAIT_SLICE_MS));
        if (waiting.async) await waiting.value;
      }
    } finally {
      Atomics.sub(w, W.SLEEPERS, 1);
      clearInterval(keepAlive);
    }
  }

  /**
   * One look at the peers while the barrier is closed: throws if the group aborted, a rank this
   * one waits for departed, or the deadline passed; warns when a stall warning is due. Returns the
   * milliseconds until the next deadline or warning, to bound the next sleep.
   */
  #watch(operation: string, sequence: number): number {
    this.#throwIfGivenUp(operation, sequence);
    if (this.#presence.anyDeparted()) {
      if (this.#presence.ended()) throw this.endedError(operation);
      const gone = this.#presence.departedAmong(this.missing());
      if (gone >= 0) throw this.departedError(operation, gone);
    }
    const t = performance.now();
    const deadline = this.#waitStart + this.#timeoutMs;
    if (t >= deadline) throw this.#expire(operation, sequence);
    if (t >= this.#nextWarning) {
      const missing = this.missing();
      if (missing.length > 0) {
        const message = stallWarningMessage(
          sequence,
          operation,
          missing,
          t - this.#waitStart,
          this.#timeoutMs / 1000,
        );
        // Which rank warns, as on tcp: in a launcher's merged stderr every rank's warnings interleave.
        this.#warn(`shm rank ${this.#rank}: ${message}; ${this.#lastSeen(missing)}`);
      }
      while (this.#nextWarning <= t) this.#nextWarning += this.#stallMs;
    }
    return Math.max(0, Math.min(deadline, this.#nextWarning) - t);
  }

  /** The group aborted: a timeout (every waiting rank reports Timeout) or a failure. */
  #throwIfGivenUp(operation: string, sequence: number): void {
    if (Atomics.load(this.#words, W.ABORT) === 0) return;
    const state = readAbort(this.#words);
    if (state?.cause === ABORT_CAUSE.TIMEOUT) {
      const missing = this.missing();
      throw this.#timeoutError(operation, sequence, missing.length > 0 ? missing : [state.rank]);
    }
    this.throwIfAborted(operation);
  }

  throwIfAborted(operation: string): void {
    if (Atomics.load(this.#words, W.ABORT) === 0) return;
    const state = readAbort(this.#words);
    if (!state) return;
    const who = state.rank >= 0 ? `rank ${state.rank}` : 'a rank';
    const what =
      state.cause === ABORT_CAUSE.TIMEOUT
        ? `the shm group gave up waiting for ${who} (${state.reason})`
        : `${who} of the shm group failed (${state.reason})`;
    throw new CommError(
      'CollectiveFailed',
      operation,
      `${what}; the group cannot continue. Close this communicator and start a new group.`,
      { rank: state.rank, reason: state.reason },
    );
  }

  /** Before a collective starts: the group aborted, or a rank it needs (any rank) departed. */
  throwIfFailed(operation: string): void {
    this.throwIfAborted(operation);
    if (!this.#presence.anyDeparted()) return;
    if (this.#presence.ended()) throw this.endedError(operation);
    const gone = this.#presence.firstDeparted();
    if (gone >= 0) throw this.departedError(operation, gone);
  }

  departedError(operation: string, rank: number): CommError {
    const how = this.#presence.departure(rank) ?? `rank ${rank} departed`;
    return new CommError(
      'CollectiveFailed',
      operation,
      `${how} (${this.#presence.lastSeen(rank)}); every collective needs all ${this.#size} ranks, so this one cannot complete. Close this communicator.`,
      { rank, reason: how },
    );
  }

  /**
   * This member's generation ended (§5.6): every rank departed, this one included — only a
   * communicator splitLocal() returned outlives its parent's close.
   */
  endedError(operation: string): CommError {
    return new CommError(
      'InvalidCommunicator',
      operation,
      `every rank of this shm group, rank ${this.#rank} too, has closed the communicator this one belongs to; call init() again to communicate.`,
      { rank: this.#rank, generation: this.#presence.generation },
    );
  }

  /** Ranks whose epoch is behind this rank's: they never arrived at the barrier it waits in. */
  missing(): number[] {
    const out: number[] = [];
    for (let r = 0; r < this.#size; r++) {
      if (Atomics.load(this.#words, this.#arrived + r * RANK_STRIDE_WORDS) < this.#epoch) out.push(r);
    }
    return out;
  }

  #lastSeen(ranks: readonly number[]): string {
    return ranks.map((r) => `rank ${r} ${this.#presence.lastSeen(r)}`).join('; ');
  }

  /**
   * The deadline passed. This rank's arrival is counted, so the barrier is unusable: abort the
   * group naming the (first) silent rank, with the timeout as cause, so every other waiting rank
   * throws Timeout too (not CollectiveFailed naming this healthy rank), and a late rank fails.
   */
  #expire(operation: string, sequence: number): CommError {
    const missing = this.missing();
    const error = this.#timeoutError(operation, sequence, missing);
    const reason = `collective #${sequence} (${operation}) timed out after ${this.#timeoutMs / 1000} s: ${this.#never(missing)} (${this.#lastSeen(missing)})`;
    abortGroup(this.#words, missing[0] ?? -1, reason, ABORT_CAUSE.TIMEOUT);
    return error;
  }

  #never(missing: readonly number[]): string {
    return `rank${missing.length === 1 ? '' : 's'} ${missing.join(', ')} never arrived`;
  }

  #timeoutError(operation: string, sequence: number, missing: readonly number[]): CommError {
    const secs = this.#timeoutMs / 1000;
    return new CommError(
      'Timeout',
      operation,
      `no progress for ${secs} s in collective #${sequence}: ${this.#never(missing)} (${this.#lastSeen(missing)}). Check that every rank calls the same collectives, or raise COLLECTIVE_TIMEOUT_SECS.`,
      { sequence, missing: [...missing], timeoutSecs: secs },
    );
  }
}
