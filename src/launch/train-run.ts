/**
 * One train() run of several workers (spec/train.md §4–§5): starts the ranks, relays progress, and on
 * the first failure, the timeout or the caller's abort stops every rank and settles only when all of
 * them are reaped, so nothing (process, thread, pipe, timer, listener) outlives the returned promise.
 */
import { CommError, WorkerError, serializeError, type SerializedError } from '../communicator/errors.js';
import { failed, type RankExit, type RankHandle } from './rank-handle.js';
import { STOP_GRACE_MS, stopRanks } from './stop-ranks.js';
import type { TrainPlan } from './train-options.js';
import { isWorkerMessage, type WorkerMessage } from './worker-messages.js';

interface Failure {
  rank: number;
  inner: SerializedError | null;
}

/** Why a run is being stopped: a worker failed, or something else (timeout, abort, onProgress threw). */
type StopCause = { kind: 'failure'; failure: Failure } | { kind: 'error'; error: unknown };

/** Starts the ranks of a run; rank 0 must be started first. */
export type RankStarter = (rank: number) => RankHandle;

export class TrainRun {
  readonly #plan: TrainPlan;
  readonly #ranks: RankHandle[] = [];
  readonly #finished = new Set<number>();
  readonly #errorsByRank = new Map<number, SerializedError>();
  #result: unknown;
  /** Why the run is being stopped; null while it runs normally. */
  #cause: StopCause | null = null;
  readonly #laterFailures: number[] = [];
  #stopping: Promise<RankExit[]> | null = null;
  /** tcp: rank 0 reported where its coordinator listens. */
  onListening: (host: string, port: number) => void = () => {};
  #onFirstFailure: (rank: number, reason: string) => void = () => {};

  constructor(plan: TrainPlan) {
    this.#plan = plan;
  }

  /** Called once, with the rank that failed first (the shm group is aborted there). */
  set onFirstFailure(listener: (rank: number, reason: string) => void) {
    this.#onFirstFailure = listener;
  }

  async run(start: RankStarter): Promise<unknown> {
    const { timeoutMs, signal } = this.#plan;
    if (signal?.aborted) throw signal.reason;
    const onAbort = (): void => this.#stopFor({ kind: 'error', error: signal?.reason });
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      timeoutMs === null
        ? null
        : setTimeout(() => this.#stopFor({ kind: 'error', error: this.#timeoutError(timeoutMs) }), timeoutMs);
    try {
      for (let rank = 0; rank < this.#plan.numWorkers && this.#cause === null; rank++) {
        let handle: RankHandle;
        try {
          handle = start(rank);
        } catch (error) {
          this.#stopFor({ kind: 'error', error });
          break;
        }
        this.#ranks.push(handle);
        handle.onMessage((message) => this.#onMessage(handle, message));
        // A failing exit is acted on at once; a clean one only when reaped, after its last message.
        void handle.exited.then((exit) => failed(exit) && this.#onExit(handle, exit));
        void handle.reaped.then((exit) => this.#onExit(handle, exit));
      }
      await Promise.all(this.#ranks.map((r) => r.reaped));
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (this.#cause === null) return this.#result;
    if (this.#cause.kind === 'error') throw this.#cause.error;
    throw await this.#workerError(this.#cause.failure);
  }

  /** Sends a message to every rank but `except` (tcp: the coordinator's address). */
  broadcast(message: unknown, except: number): void {
    for (const rank of this.#ranks) if (rank.rank !== except) rank.send(message);
  }

  #onMessage(handle: RankHandle, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    const m: WorkerMessage = message;
    switch (m.kind) {
      case 'collective:progress':
        if (this.#cause !== null || !this.#plan.onProgress) return;
        try {
          this.#plan.onProgress({ ...m.event, workerId: handle.rank });
        } catch (error) {
          this.#stopFor({ kind: 'error', error });
        }
        return;
      case 'collective:listening':
        this.onListening(m.host, m.port);
        return;
      case 'collective:result':
        this.#finished.add(handle.rank);
        if (handle.rank === 0) this.#result = m.value;
        return;
      case 'collective:failed':
        this.#errorsByRank.set(handle.rank, m.error);
        this.#fail(handle.rank, m.error);
        return;
    }
  }

  #onExit(handle: RankHandle, exit: RankExit): void {
    if (!failed(exit) && this.#finished.has(handle.rank)) return;
    if (exit.uncaught !== undefined && !this.#errorsByRank.has(handle.rank)) {
      this.#errorsByRank.set(handle.rank, serializeError(exit.uncaught));
    }
    this.#fail(handle.rank, this.#errorsByRank.get(handle.rank) ?? null);
  }

  #fail(rank: number, inner: SerializedError | null): void {
    if (this.#cause === null) {
      this.#stopFor({ kind: 'failure', failure: { rank, inner } });
      this.#onFirstFailure(rank, inner ? `${inner.name}: ${inner.message}` : 'it exited');
    } else if (
      this.#cause.kind === 'failure' &&
      this.#cause.failure.rank !== rank &&
      !this.#laterFailures.includes(rank) &&
      (inner !== null || !this.#stopping)
    ) {
      // A rank that reports its own error (or exits) after the root cause: mentioned, not the cause.
      this.#laterFailures.push(rank);
    }
  }

  #stopFor(cause: StopCause): void {
    if (this.#cause !== null) return;
    this.#cause = cause;
    const reason =
      cause.kind === 'failure' ? `worker rank ${cause.failure.rank} failed` : 'train() is stopping';
    for (const rank of this.#ranks) rank.send({ kind: 'collective:stop', reason });
    const exiting = cause.kind === 'failure' && cause.failure.inner !== null ? cause.failure.rank : null;
    this.#stopping = stopRanks(this.#ranks, STOP_GRACE_MS, exiting);
  }

  async #workerError(failure: Failure): Promise<WorkerError> {
    const handle = this.#ranks[failure.rank];
    const exit = handle ? await handle.reaped : { exitCode: null, signal: null };
    const inner = this.#errorsByRank.get(failure.rank) ?? failure.inner;
    let message = WorkerError.describe(failure.rank, exit.exitCode, exit.signal, inner);
    const later = this.#laterFailures.filter((r) => r !== failure.rank).sort((a, b) => a - b);
    if (later.length > 0) {
      const what = later.map((r) => {
        const e = this.#errorsByRank.get(r);
        return e ? `rank ${r} (${e.name}: ${e.message})` : `rank ${r}`;
      });
      message += `; after it, ${what.join(', ')} also failed`;
    }
    return new WorkerError(failure.rank, exit.exitCode, exit.signal, inner, message);
  }

  #timeoutError(timeoutMs: number): CommError {
    const running = this.#ranks.filter((r) => !this.#finished.has(r.rank)).map((r) => r.rank);
    return new CommError(
      'Timeout',
      'train',
      `the workers did not finish within ${timeoutMs} ms (still running: ranks ${running.join(', ')}); every worker was stopped`,
      { timeoutMs, missing: running },
    );
  }
}
