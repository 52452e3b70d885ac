/**
 * One train() run of several workers (spec/train.md §4–§5): starts the ranks, relays progress, and on
 * the first failure, the timeout or the caller's abort stops every rank and settles only when all of
 * them are reaped, so nothing (process, thread, pipe, timer, listener) outlives the returned promise.
 */
import { CommError, WorkerError, serializeError, type SerializedError } from '../communicator/errors.js';
import { failed, type RankExit, type RankHandle } from './rank-handle.js';
import { STOP_GRACE_MS, stopRanks } from './stop-ranks.js';
import type { TrainPlan } from './train-options.js';
import { isWorkerMessage } from './worker-messages.js';

/** Why a run is being stopped: a worker failed, or something else (timeout, abort, onProgress threw). */
type StopCause = { kind: 'failure' } | { kind: 'error'; error: unknown };

/** The peer rank whose failure a CommError 'CollectiveFailed' reports, or null. */
function peerNamedBy(error: SerializedError | undefined): number | null {
  if (error?.name !== 'CommError' || error.code !== 'CollectiveFailed') return null;
  const rank = error.details?.['rank'];
  return typeof rank === 'number' && rank >= 0 ? rank : null;
}

/** Starts the ranks of a run, in rank order. */
export type RankStarter = (rank: number) => RankHandle;

export class TrainRun {
  readonly #plan: TrainPlan;
  readonly #ranks: RankHandle[] = [];
  readonly #finished = new Set<number>();
  readonly #errorsByRank = new Map<number, SerializedError>();
  /** Ranks that failed by their own doing (an error, an exit), in the order the parent learnt of it. */
  readonly #ownFailures: number[] = [];
  #result: unknown;
  /** Why the run is being stopped; null while it runs normally. */
  #cause: StopCause | null = null;
  /** Settles when the stop has reaped every rank and cleared its timer. */
  #stopping: Promise<unknown> = Promise.resolve();
  /** tcp: rank 0 reported where its coordinator listens. */
  onListening: (host: string, port: number) => void = () => {};
  /** Called once, with the first rank seen failing (the shm group is aborted there). */
  onFirstFailure: (rank: number, reason: string) => void = () => {};

  constructor(plan: TrainPlan) {
    this.#plan = plan;
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
      await this.#stopping;
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (this.#cause === null) return this.#result;
    if (this.#cause.kind === 'error') throw this.#cause.error;
    throw await this.#workerError();
  }

  /** Sends a message to every rank but `except` (tcp: the coordinator's address). */
  broadcast(message: unknown, except: number): void {
    for (const rank of this.#ranks) if (rank.rank !== except) rank.send(message);
  }

  #onMessage(handle: RankHandle, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    switch (message.kind) {
      case 'collective:progress':
        if (this.#cause !== null || !this.#plan.onProgress) return;
        try {
          this.#plan.onProgress({ ...message.event, workerId: handle.rank });
        } catch (error) {
          this.#stopFor({ kind: 'error', error });
        }
        return;
      case 'collective:listening':
        this.onListening(message.host, message.port);
        return;
      case 'collective:result':
        this.#finished.add(handle.rank);
        if (handle.rank === 0) this.#result = message.value;
        return;
      case 'collective:failed':
        this.#errorsByRank.set(handle.rank, message.error);
        this.#ownFailure(handle.rank, true);
        return;
    }
  }

  #onExit(handle: RankHandle, exit: RankExit): void {
    if (!failed(exit) && this.#finished.has(handle.rank)) return;
    if (exit.uncaught !== undefined && !this.#errorsByRank.has(handle.rank)) {
      this.#errorsByRank.set(handle.rank, serializeError(exit.uncaught));
    }
    // Ended by our own stop: not a failure of the worker.
    if (!exit.byLauncher) this.#ownFailure(handle.rank, false);
  }

  #ownFailure(rank: number, reported: boolean): void {
    if (this.#ownFailures.includes(rank)) return;
    this.#ownFailures.push(rank);
    if (this.#cause !== null) return;
    const inner = this.#errorsByRank.get(rank);
    this.onFirstFailure(rank, inner ? `${inner.name}: ${inner.message}` : 'it exited');
    // Spare the reporter (it is exiting) and the peer whose death it reports (its own error may still
    // be on its way): ending them now could lose the root cause.
    const peer = peerNamedBy(inner);
    const spared = [...(reported ? [rank] : []), ...(peer === null ? [] : [peer])];
    this.#stopFor({ kind: 'failure' }, spared);
  }

  #stopFor(cause: StopCause, spared: readonly number[] = []): void {
    if (this.#cause !== null) return;
    this.#cause = cause;
    const reason =
      cause.kind === 'failure' ? `worker rank ${this.#ownFailures[0]} failed` : 'train() is stopping';
    for (const rank of this.#ranks) rank.send({ kind: 'collective:stop', reason });
    this.#stopping = stopRanks(this.#ranks, STOP_GRACE_MS, spared);
  }

  /**
   * The root cause among the ranks that failed by themselves: the first one the parent learnt of,
   * unless that one only reports a peer's death (CollectiveFailed naming a rank that failed too), in
   * which case the peer is the cause: a dead peer's exit can reach the parent after a survivor's report.
   */
  #rootCause(): number {
    const first = this.#ownFailures[0] as number;
    const peer = peerNamedBy(this.#errorsByRank.get(first));
    return peer !== null && peer !== first && this.#ownFailures.includes(peer) ? peer : first;
  }

  async #workerError(): Promise<WorkerError> {
    const root = this.#rootCause();
    const exit = await (this.#ranks[root] as RankHandle).reaped;
    const inner = this.#errorsByRank.get(root) ?? null;
    let message = WorkerError.describe(root, exit.exitCode, exit.signal, inner);
    const later = this.#ownFailures.filter((r) => r !== root);
    if (later.length > 0) {
      const what = later.map((r) => {
        const e = this.#errorsByRank.get(r);
        return e ? `rank ${r} (${e.name}: ${e.message})` : `rank ${r}`;
      });
      message += `; after it, ${what.join(', ')} also failed`;
    }
    return new WorkerError(root, exit.exitCode, exit.signal, inner, message);
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
