/**
 * Timers and teardown shared by both sides (spec/backend-tcp.md §6–§7). Every timer here is unref'd
 * and cleared on close, so a process whose communicator is closed exits on its own.
 */
import type { Connection } from './connection.js';

/** The stall check runs this many times per timeout (or warning interval, if shorter): at most 5% late. */
export const TICKS_PER_TIMEOUT = 20;
/** close() waits this long for peers to see our Shutdown and close their side (ms), then cuts. */
export const CLOSE_GRACE_MS = 1000;

/**
 * Measures how long the current collective has gone without progress (spec §7.2): calls
 * onStall(ms, false) every `warningMs` of stall (the stall warning; 0 = never) and onStall(ms, true)
 * at `timeoutMs` (the fatal timeout). onStall returns false when no collective is in flight.
 */
export class StallClock {
  #lastProgress = performance.now();
  /** Stall (ms since the last progress) at which the next warning is due. */
  #nextWarningMs: number;
  #timer: NodeJS.Timeout | null;

  constructor(
    private readonly timeoutMs: number,
    private readonly warningMs: number,
    private readonly onStall: (stalledMs: number, fatal: boolean) => boolean,
  ) {
    this.#nextWarningMs = warningMs > 0 ? warningMs : Infinity;
    const period = Math.min(timeoutMs, this.#nextWarningMs) / TICKS_PER_TIMEOUT;
    this.#timer = setInterval(() => this.#tick(), Math.max(1, period));
    this.#timer.unref();
  }

  /** Something moved: a Begin, data, or the local call. The warning schedule starts over. */
  progress(): void {
    this.#lastProgress = performance.now();
    this.#nextWarningMs = this.warningMs > 0 ? this.warningMs : Infinity;
  }

  /** A new collective begins: its own clock, its own warnings. */
  reset(): void {
    this.progress();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    const stalled = performance.now() - this.#lastProgress;
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
    grace.unref();
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
