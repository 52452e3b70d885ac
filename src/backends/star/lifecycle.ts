/**
 * Timers and teardown shared by both sides (spec/backend-tcp.md §6–§7). Every timer here is unref'd
 * and cleared on close, so a process whose communicator is closed exits on its own.
 */
import type { Connection } from './connection.js';
import { unrefTimer } from '../../communicator/platform.js';

/** The stall check runs this many times per timeout (or warning interval, if shorter): at most 5% late. */
export const TICKS_PER_TIMEOUT = 20;
/** Timer lateness (ms) beyond one period that is ordinary scheduling jitter, not a stopped process. */
const LAG_ALLOWANCE_MS = 50;
/** close() waits this long for peers to see our Shutdown and close their side (ms), then cuts. */
export const CLOSE_GRACE_MS = 1000;

/** Where StallClock reads the time and how it repeats its tick: real timers, or a test's hand. */
export interface StallTiming {
  now(): number;
  every(ms: number, tick: () => void): { stop(): void };
}

const REAL_TIMING: StallTiming = {
  now: () => performance.now(),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    unrefTimer(timer);
    return { stop: () => clearInterval(timer) };
  },
};

/**
 * Measures how long the current collective has gone without progress (spec §7.2): calls
 * onStall(ms, false) every `warningMs` of stall (the stall warning; 0 = never) and onStall(ms, true)
 * at `timeoutMs` (the fatal timeout). onStall returns false when no collective is in flight.
 */
export class StallClock {
  #lastProgress: number;
  /** When the last tick ran (timing.now() ms): a tick far later than its period means this process was not running. */
  #lastTick: number;
  readonly #periodMs: number;
  #notRunningMs = 0;
  /** The previous tick was late and skipped the check (at most one in a row does). */
  #skippedLastTick = false;
  /** Stall (ms since the last progress) at which the next warning is due. */
  #nextWarningMs: number;
  #timer: { stop(): void } | null;

  constructor(
    private readonly timeoutMs: number,
    private readonly warningMs: number,
    private readonly onStall: (stalledMs: number, fatal: boolean) => boolean,
    private readonly timing: StallTiming = REAL_TIMING,
  ) {
    this.#lastProgress = timing.now();
    this.#lastTick = this.#lastProgress;
    this.#nextWarningMs = warningMs > 0 ? warningMs : Infinity;
    this.#periodMs = Math.max(1, Math.min(timeoutMs, this.#nextWarningMs) / TICKS_PER_TIMEOUT);
    this.#timer = timing.every(this.#periodMs, () => this.#tick());
  }

  /** Something moved: a Begin, data, or the local call. The warning schedule starts over. */
  progress(): void {
    this.#lastProgress = this.timing.now();
    this.#nextWarningMs = this.warningMs > 0 ? this.warningMs : Infinity;
  }

  /** A new collective begins: its own clock, its own warnings. */
  reset(): void {
    this.progress();
    this.#notRunningMs = 0;
  }

  /** How long this process was not running (stopped or starved: late ticks) since the last reset (ms). */
  get notRunningMs(): number {
    return this.#notRunningMs;
  }

  stop(): void {
    this.#timer?.stop();
    this.#timer = null;
  }

  #tick(): void {
    const now = this.timing.now();
    const late = now - this.#lastTick - this.#periodMs;
    this.#lastTick = now;
    if (late > this.#periodMs + LAG_ALLOWANCE_MS) {
      // This process was stopped (SIGSTOP, a debugger) or its event loop starved: its peers' frames
      // may be waiting unread in the socket. The time it was not running is not their silence, so it
      // does not count; they are judged only after this process has read what they sent (spec §7.2).
      this.#lastProgress += late;
      this.#notRunningMs += late;
      // Skip the check once, so the event loop reads those frames first; never twice in a row: if
      // every tick is late (a loaded machine, long synchronous work), a frozen peer must still be
      // caught — the stall then grows by one period per tick, counting only the time this ran.
      if (!this.#skippedLastTick) {
        this.#skippedLastTick = true;
        return;
      }
    }
    this.#skippedLastTick = false;
    const stalled = now - this.#lastProgress;
    if (stalled >= this.timeoutMs) this.onStall(stalled, true);
    else if (stalled >= this.#nextWarningMs && this.onStall(stalled, false)) {
      // Repeats every warningMs while still stalled.
      this.#nextWarningMs += this.warningMs;
    }
  }
}

/** Ends every connection after its queued frames, resolving when all are closed (cut after a grace period). */
export function closeConnections(connections: readonly Connection[]): Promise<void> {
  const open = connections.filter((c) => !c.ended);
  if (open.length === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let left = open.length;
    const grace = setTimeout(() => open.forEach((c) => c.destroy()), CLOSE_GRACE_MS);
    unrefTimer(grace);
    for (const c of open) {
      c.onEnd = () => {
        if (--left === 0) {
          clearTimeout(grace);
          resolve();
        }
      };
      c.end();
    }
  });
}
