/**
 * The progress loop (spec/backend-mpi.md §3): every MPI operation of this process is nonblocking, and
 * this loop completes them with MPI_Test from the event loop, so no call ever blocks it. One loop per
 * thread serves every MPI communicator of the thread.
 *
 * While something waits (a collective, a send, a channel with a receive pending) it runs on
 * setImmediate — hot, a few microseconds between tests — and, after {@link HOT_MS} without progress,
 * on a {@link BACKOFF_MS} timer, so that a rank waiting for a slow peer leaves the cores to it. Idle, it
 * polls the pollers (arriving frames, control messages) on an unref'd {@link IDLE_POLL_MS} timer that
 * never keeps the process alive.
 */
import type { MpiNative } from './addon.js';

/** Milliseconds of spinning on setImmediate after the last progress, before backing off. */
export const HOT_MS = 10;
/** The timer between tests once backed off, in milliseconds. */
export const BACKOFF_MS = 1;
/** MPI_Test calls on a waiting request per tick of the loop. */
export const TESTS_PER_TICK = 32;
/** The idle timer between polls of arrivals and control messages, in milliseconds. */
export const IDLE_POLL_MS = 5;

/** Something polled on every tick: arrivals of a channel, a group's control messages. */
export interface Poller {
  /** Delivers what arrived; true when anything did. Never throws. */
  poll(): boolean;
  /** While true, the loop runs hot and keeps the process alive (a receive is waiting). */
  readonly active: boolean;
}

/** A set of MPI requests that complete together; settled once. */
export class Wait {
  readonly startedAt = performance.now();
  #settle: { resolve(): void; reject(error: unknown): void } | null = null;
  readonly done: Promise<void>;

  /**
   * @param requests - request ids, tested in order.
   * @param keep - the buffers MPI reads or writes until completion: referenced here so they live.
   * @param check - called on every tick with the time waited (ms): throws to reject the wait.
   */
  constructor(
    readonly native: MpiNative,
    readonly requests: number[],
    readonly keep: readonly unknown[],
    readonly check: ((waitedMs: number) => void) | null,
  ) {
    this.done = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));
  }

  get settled(): boolean {
    return this.#settle === null;
  }

  /** Tests the requests still in flight; true once settled. */
  step(now: number): boolean {
    if (this.#settle === null) return true;
    try {
      // Several tests per tick: MPI's nonblocking collectives advance one step of their schedule per
      // test (Open MPI's libnbc), so a multi-round collective would otherwise take a tick per round.
      for (let tests = 0; this.requests.length > 0 && tests < TESTS_PER_TICK; tests++) {
        if (this.native.test(this.requests[0] as number)) this.requests.shift();
      }
      if (this.requests.length === 0) {
        this.resolve();
        return true;
      }
      this.check?.(now - this.startedAt);
    } catch (error) {
      this.reject(error);
      return true;
    }
    return false;
  }

  resolve(): void {
    const settle = this.#settle;
    this.#settle = null;
    settle?.resolve();
  }

  /** Rejects it (a failure, a close, a timeout); its requests are left to MPI (they cannot be cancelled). */
  reject(error: unknown): void {
    const settle = this.#settle;
    this.#settle = null;
    settle?.reject(error);
  }
}

class ProgressLoop {
  readonly #waits = new Set<Wait>();
  readonly #pollers = new Set<Poller>();
  #immediate: NodeJS.Immediate | null = null;
  #timer: NodeJS.Timeout | null = null;
  #timerIsIdle = false;
  #lastProgress = performance.now();

  add(wait: Wait): void {
    this.#waits.add(wait);
    this.#lastProgress = performance.now();
    this.schedule();
  }

  addPoller(poller: Poller): void {
    this.#pollers.add(poller);
    this.schedule();
  }

  removePoller(poller: Poller): void {
    this.#pollers.delete(poller);
  }

  /** Something may have changed (a wait added, a channel became active): run soon. */
  schedule(): void {
    if (this.#immediate !== null) return;
    const urgent = this.#urgent();
    if (this.#timer !== null) {
      if (!(urgent && this.#timerIsIdle)) return;
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (urgent) {
      if (performance.now() - this.#lastProgress < HOT_MS) {
        this.#immediate = setImmediate(this.#tick);
      } else {
        this.#timer = setTimeout(this.#tick, BACKOFF_MS);
        this.#timerIsIdle = false;
      }
    } else if (this.#pollers.size > 0) {
      this.#timer = setTimeout(this.#tick, IDLE_POLL_MS).unref();
      this.#timerIsIdle = true;
    }
  }

  #urgent(): boolean {
    if (this.#waits.size > 0) return true;
    for (const poller of this.#pollers) if (poller.active) return true;
    return false;
  }

  readonly #tick = (): void => {
    this.#immediate = null;
    this.#timer = null;
    const now = performance.now();
    let progressed = false;
    for (const poller of this.#pollers) if (poller.poll()) progressed = true;
    for (const wait of this.#waits) {
      const before = wait.requests.length;
      if (wait.step(now)) {
        this.#waits.delete(wait);
        progressed = true;
      } else if (wait.requests.length !== before) progressed = true;
    }
    if (progressed) this.#lastProgress = now;
    this.schedule();
  };
}

/** This thread's loop. */
export const progress = new ProgressLoop();
