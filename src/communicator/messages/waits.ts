/**
 * The message operations that wait (a receive or probe with no message yet, a receive whose
 * rendezvous data is on its way, a rendezvous send not yet cleared): what keeps the channel active,
 * what stall warnings name and what the fatal timeout ends (spec/communicator.md §10.7).
 *
 * One unref'd ticker per engine, running only while something waits, checks every wait's age:
 * a wait older than the stall interval warns (again each interval), one older than the timeout
 * ends the group with Timeout. The channel's setActive(true) keeps the process alive meanwhile.
 */
import { CommError, messageStallWarningMessage, STALL_WARNING_CODE, STALL_WARNING_TYPE } from '../errors.js';
import { emitWarning, unrefTimer } from '../platform.js';
import type { PairChannel } from './channel.js';

const MS_PER_SEC = 1000;
/** Checks per stall interval or timeout, whichever is shorter: the bound on how late either fires. */
const TICKS_PER_INTERVAL = 10;
/** The ticker's period stays within these bounds (ms). */
const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;

export interface Wait {
  /** What is waited for, led by the operation: "recv from rank 3, tag 7 on …". */
  readonly describe: string;
  readonly since: number;
  warnedAt: number;
  /** Rejects the operation with the group's failure. */
  readonly fail: (error: CommError) => void;
}

/** The operation named first in a description ("recv from rank 3…" → "recv"). */
export function operationOf(describe: string): string {
  return /^[A-Za-z]\w*/.exec(describe)?.[0] ?? 'recv';
}

export class Watchdog {
  readonly #channel: PairChannel;
  readonly #onTimeout: (error: CommError) => void;
  readonly #waits = new Set<Wait>();
  #timer: ReturnType<typeof setInterval> | null = null;
  readonly #tickMs: number;

  constructor(channel: PairChannel, onTimeout: (error: CommError) => void) {
    this.#channel = channel;
    this.#onTimeout = onTimeout;
    const stallMs = channel.stallWarningSecs * MS_PER_SEC;
    const timeoutMs = channel.timeoutSecs * MS_PER_SEC;
    const shortest = stallMs > 0 ? Math.min(stallMs, timeoutMs) : timeoutMs;
    this.#tickMs = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, shortest / TICKS_PER_INTERVAL));
  }

  get size(): number {
    return this.#waits.size;
  }

  add(describe: string, fail: (error: CommError) => void): Wait {
    const now = Date.now();
    const wait: Wait = { describe, since: now, warnedAt: now, fail };
    this.#waits.add(wait);
    if (this.#waits.size === 1) this.#channel.setActive(true);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#tick(), this.#tickMs);
      unrefTimer(this.#timer);
    }
    return wait;
  }

  done(wait: Wait): void {
    if (this.#waits.delete(wait) && this.#waits.size === 0) this.#channel.setActive(false);
  }

  /** Rejects every wait with `error` (the group failed). */
  failAll(error: CommError): void {
    const waits = [...this.#waits];
    this.#waits.clear();
    this.#stop();
    if (waits.length > 0) this.#channel.setActive(false);
    for (const wait of waits) wait.fail(error);
  }

  #stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    if (this.#waits.size === 0) return this.#stop();
    const now = Date.now();
    const timeoutSecs = this.#channel.timeoutSecs;
    const stallMs = this.#channel.stallWarningSecs * MS_PER_SEC;
    for (const wait of this.#waits) {
      const waited = now - wait.since;
      if (waited >= timeoutSecs * MS_PER_SEC) {
        const error = new CommError(
          'Timeout',
          operationOf(wait.describe),
          `${wait.describe}: nothing arrived for ${(waited / MS_PER_SEC).toFixed(1)} s, past the fatal timeout of ${timeoutSecs} s; the group is ended on every rank. Check that the peer posts the matching call (source, tag, communicator), or raise COLLECTIVE_TIMEOUT_SECS for a legitimately long wait, then create a new communicator.`,
          { waitedMs: waited, timeoutSecs, waitingFor: wait.describe },
        );
        this.#onTimeout(error);
        return;
      }
      if (stallMs > 0 && now - wait.warnedAt >= stallMs) {
        wait.warnedAt = now;
        emitWarning(messageStallWarningMessage(wait.describe, waited, timeoutSecs), {
          type: STALL_WARNING_TYPE,
          code: STALL_WARNING_CODE,
        });
      }
    }
  }
}
