/**
 * Timers and teardown shared by both sides (spec/backend-tcp.md §6–§7). Every timer here is unref'd
 * and cleared on close, so a process whose communicator is closed exits on its own.
 */
import type { Connection } from './connection.js';

/** The stall check runs this many times per timeout: a Timeout fires at most 5% late. */
export const TICKS_PER_TIMEOUT = 20;
/** A slow-rank warning fires after this fraction of the timeout without progress. */
export const WARNING_FRACTION = 0.1;
/** close() waits this long for peers to see our Shutdown and close their side (ms), then cuts. */
export const CLOSE_GRACE_MS = 1000;

/**
 * Measures how long the current collective has gone without progress; calls onStall(ms, false) once
 * after a tenth of the timeout (the warning) and onStall(ms, true) at the timeout.
 */
export class StallClock {
  #lastProgress = performance.now();
  #warned = false;
  #timer: NodeJS.Timeout | null;

  constructor(
    private readonly timeoutMs: number,
    /** Returns false when no collective is in flight (nothing to warn about). */
    private readonly onStall: (stalledMs: number, fatal: boolean) => boolean,
  ) {
    this.#timer = setInterval(() => this.#tick(), Math.max(1, timeoutMs / TICKS_PER_TIMEOUT));
    this.#timer.unref();
  }

  /** Something moved: a Begin, data, or the local call. */
  progress(): void {
    this.#lastProgress = performance.now();
  }

  /** A new collective begins: its own warning, its own clock. */
  reset(): void {
    this.#lastProgress = performance.now();
    this.#warned = false;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    const stalled = performance.now() - this.#lastProgress;
    if (stalled >= this.timeoutMs) this.onStall(stalled, true);
    else if (!this.#warned && stalled >= this.timeoutMs * WARNING_FRACTION) {
      this.#warned = this.onStall(stalled, false);
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
