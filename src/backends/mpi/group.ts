/**
 * One MPI communicator as our contract sees it (spec/backend-mpi.md §3–§4): its MPI communicators
 * (a dup for collectives, a dup for frames and control messages, the node's shared-memory split), the
 * agreement round every collective starts with, the group's failure, and the control messages that
 * MPI itself has no words for: "I closed", "the group failed", "which collective are you in?".
 *
 * MPI cannot cancel a collective. So a Timeout, a close or a failure rejects this rank's waiting
 * operation and ends the group here; the MPI request stays in flight (§4.4 says what the process
 * does at exit).
 */
import { CommError } from '../../communicator/errors.js';
import { STALL_WARNING_CODE, STALL_WARNING_TYPE, stallWarningMessage } from '../../communicator/errors.js';
import {
  decodeFingerprint,
  encodeFingerprint,
  FINGERPRINT_BYTES,
  FINGERPRINT_WORDS,
  mismatchError,
  type Fingerprint,
} from '../../communicator/fingerprint.js';
import type { MpiNative } from './addon.js';
import { progress, Wait, type Poller } from './progress.js';

/** Tags on the frame communicator (channel.ts uses FRAME and PAYLOAD). */
export const TAG = { FRAME: 1, PAYLOAD: 2, CONTROL: 3 } as const;
/** Control messages: Int32Array [type, value]. */
const CONTROL = { CLOSED: 1, ASK: 2, ANSWER: 3, FAILED: 4 } as const;
const CONTROL_WORDS = 2;
/** Each rank's block in the agreement round, in bytes: a fingerprint and a little data (§4.1). */
export const AGREEMENT_BLOCK_BYTES = 64;
/** Data that rides in the agreement round itself: an allreduce this small is one MPI call. */
export const INLINE_BYTES = AGREEMENT_BLOCK_BYTES - FINGERPRINT_BYTES;
/** Synchronous tests right after a start, before the wait goes to the progress loop. */
export const SPIN_TESTS = 64;
/** A wait this old (ms, or half the timeout if less) asks the others which collective they are in. */
const ASK_AFTER_MS = 500;
const MS_PER_SEC = 1000;

export interface GroupSettings {
  readonly timeoutSecs: number;
  /** 0: never. */
  readonly stallWarningSecs: number;
  /** Stall warnings; default process.emitWarning with code COLLECTIVE_STALL. */
  readonly onStall?: (message: string) => void;
}

/** What the world's communicators are for: collectives, frames and control, the node's ranks. */
export interface Comms {
  readonly coll: number;
  readonly chan: number;
  readonly node: number;
}

export class MpiGroup implements Poller {
  readonly rank: number;
  readonly size: number;
  readonly nodeRank: number;
  readonly nodeSize: number;
  /** Collectives this rank has begun (the last one's sequence number). */
  #entered = 0;
  #failure: CommError | null = null;
  #closed = false;
  readonly #waits = new Set<Wait>();
  /** A peer's close that arrived while a collective it had finished was still completing here. */
  #closedAfter: CommError | null = null;
  readonly #failureListeners: Array<(error: CommError) => void> = [];
  /** The last `entered` each rank answered, and the collective this rank last asked about. */
  readonly #answers: number[];
  #askedFor = 0;
  readonly #controlIn: Array<{ source: number; words: Int32Array; request: number }> = [];
  readonly #mine = new Int32Array(FINGERPRINT_WORDS);
  #active = 0;

  constructor(
    readonly native: MpiNative,
    readonly comms: Comms,
    readonly settings: GroupSettings,
  ) {
    [this.rank, this.size] = native.commShape(comms.coll);
    [this.nodeRank, this.nodeSize] = native.commShape(comms.node);
    this.#answers = new Array<number>(this.size).fill(0);
    progress.addPoller(this);
    LIVE_GROUPS.add(this);
  }

  get active(): boolean {
    return this.#active > 0;
  }

  /** The channel says a receive waits (keep polling hot) or no longer does. */
  setActive(active: boolean): void {
    this.#active = active ? 1 : 0;
    progress.schedule();
  }

  get failure(): CommError | null {
    return this.#failure;
  }

  onFailure(listener: (error: CommError) => void): void {
    this.#failureListeners.push(listener);
  }

  /** Starts collective number `sequence`: throws the group's failure, or InvalidCommunicator once closed. */
  begin(operation: string): number {
    if (this.#closed) {
      throw new CommError('InvalidCommunicator', operation, 'the communicator is closed.', {});
    }
    if (this.#closedAfter !== null) this.fail(this.#closedAfter, false);
    if (this.#failure) throw this.#failedAgain(operation);
    return ++this.#entered;
  }

  #failedAgain(operation: string): CommError {
    const f = this.#failure as CommError;
    return new CommError(f.code, operation, f.message.replace(/^[^:]*: /, ''), { ...f.details });
  }

  /**
   * Waits for `requests` (spinning briefly first): void when they completed at once, else a promise
   * that the progress loop settles, with stall warnings and the fatal timeout of collective `sequence`.
   */
  wait(
    operation: string,
    sequence: number,
    requests: number[],
    keep: readonly unknown[],
  ): Promise<void> | void {
    try {
      for (let spin = 0; spin < SPIN_TESTS && requests.length > 0; spin++) {
        if (this.native.test(requests[0] as number)) requests.shift();
      }
    } catch (error) {
      throw this.#mpiError(operation, error);
    }
    if (requests.length === 0) return;
    let nextStallMs = this.settings.stallWarningSecs * MS_PER_SEC;
    const timeoutMs = this.settings.timeoutSecs * MS_PER_SEC;
    const askMs = Math.min(ASK_AFTER_MS, timeoutMs / 2);
    const wait = new Wait(this.native, requests, keep, (waitedMs) => {
      if (waitedMs >= askMs && this.#askedFor < sequence) this.#ask(sequence);
      if (nextStallMs > 0 && waitedMs >= nextStallMs) {
        nextStallMs += this.settings.stallWarningSecs * MS_PER_SEC;
        const message = stallWarningMessage(
          sequence,
          operation,
          this.#missing(sequence),
          waitedMs,
          this.settings.timeoutSecs,
        );
        if (this.settings.onStall) this.settings.onStall(message);
        else process.emitWarning(message, { type: STALL_WARNING_TYPE, code: STALL_WARNING_CODE });
      }
      if (waitedMs >= timeoutMs) {
        const error = this.#timeoutError(operation, sequence);
        this.fail(error, true);
        throw error;
      }
    });
    this.#waits.add(wait);
    progress.add(wait);
    return wait.done.then(
      () => {
        this.#waits.delete(wait);
      },
      (error: unknown) => {
        this.#waits.delete(wait);
        throw this.#mpiError(operation, error);
      },
    );
  }

  /**
   * The agreement round (spec/communicator.md §6): every rank's block of {@link AGREEMENT_BLOCK_BYTES}
   * — its fingerprint, then up to {@link INLINE_BYTES} of data — gathered with one MPI_Iallgather.
   * The block has one size whatever the collective, so a rank that takes part only to report its own
   * invalid arguments (a barrier fingerprint) meets the others' allreduce in the same MPI call. Equal
   * fingerprints everywhere, or the same CollectiveMismatch (or precondition error) on every rank;
   * then `then` reads the gathered blocks (rank r's data at r * AGREEMENT_BLOCK_BYTES + FINGERPRINT_BYTES).
   */
  agree(
    operation: string,
    sequence: number,
    fp: Fingerprint,
    inline: Uint8Array | null = null,
    then: ((all: Uint8Array) => void) | null = null,
  ): Promise<void> | void {
    return this.#agreeOn(this.comms.coll, this.size, operation, sequence, fp, inline, then);
  }

  /**
   * A fence's round over the node's ranks: the world's agreement round when the world is one node
   * (so a fence against another collective is a mismatch there too), else the node communicator's.
   */
  agreeOnNode(operation: string, fp: Fingerprint): Promise<void> | void {
    const sequence = this.begin(operation);
    if (this.nodeSize === this.size) return this.agree(operation, sequence, fp);
    return this.#agreeOn(this.comms.node, this.nodeSize, operation, sequence, fp, null, null);
  }

  #agreeOn(
    comm: number,
    size: number,
    operation: string,
    sequence: number,
    fp: Fingerprint,
    inline: Uint8Array | null,
    then: ((all: Uint8Array) => void) | null,
  ): Promise<void> | void {
    const mine = new Uint8Array(AGREEMENT_BLOCK_BYTES);
    encodeFingerprint(fp, new Int32Array(mine.buffer, 0, FINGERPRINT_WORDS));
    if (inline !== null) mine.set(inline, FINGERPRINT_BYTES);
    const all = new Uint8Array(AGREEMENT_BLOCK_BYTES * size);
    const request = this.start(operation, () => this.native.iallgather(comm, mine, all));
    const finish = (): void => {
      this.check(operation, sequence, fp, new Int32Array(all.buffer), AGREEMENT_BLOCK_BYTES / 4, size);
      then?.(all);
    };
    const pending = this.wait(operation, sequence, [request], [mine, all]);
    if (pending === undefined) return finish();
    return pending.then(finish);
  }

  /** Throws the mismatch when any rank's fingerprint (words at r * stride) differs from `fp`. */
  check(
    operation: string,
    sequence: number,
    fp: Fingerprint,
    all: Int32Array,
    stride: number,
    size = this.size,
  ): void {
    const mine = encodeFingerprint(fp, this.#mine);
    for (let r = 0; r < size; r++) {
      for (let w = 0; w < FINGERPRINT_WORDS; w++) {
        if (all[r * stride + w] !== mine[w]) {
          const byRank = Array.from({ length: size }, (_, q) =>
            decodeFingerprint(all.subarray(q * stride, q * stride + FINGERPRINT_WORDS)),
          );
          throw mismatchError(operation, sequence, byRank);
        }
      }
    }
  }

  /** Runs a native start, mapping an MPI error to CollectiveFailed. */
  start<R>(operation: string, call: () => R): R {
    try {
      return call();
    } catch (error) {
      throw this.#mpiError(operation, error);
    }
  }

  #mpiError(operation: string, error: unknown): unknown {
    if (error instanceof CommError) return error;
    const e = error as Error & { mpiCode?: number; mpiClass?: number };
    if (e.mpiCode === undefined) return error;
    const failure = new CommError(
      'CollectiveFailed',
      operation,
      `MPI returned an error: ${e.message}. The group cannot continue; create a new communicator.`,
      { mpiCode: e.mpiCode, mpiClass: e.mpiClass },
    );
    this.fail(failure, true);
    return failure;
  }

  #timeoutError(operation: string, sequence: number): CommError {
    const missing = this.#missing(sequence);
    const secs = this.settings.timeoutSecs;
    const who =
      missing.length === 1 ? `rank ${missing[0]} never arrived` : `ranks ${missing.join(', ')} never arrived`;
    return new CommError(
      'Timeout',
      operation,
      `no progress for ${secs} s in collective #${sequence}: ${who}. MPI cannot cancel the collective: this communicator is over (spec/backend-mpi.md §4.4). Check that every rank calls the same collectives, or raise COLLECTIVE_TIMEOUT_SECS.`,
      { sequence, missing, timeoutSecs: secs },
    );
  }

  /** The ranks that, as last answered, had not begun collective `sequence` (all others if none answered). */
  #missing(sequence: number): number[] {
    const missing: number[] = [];
    for (let r = 0; r < this.size; r++) {
      if (r !== this.rank && (this.#answers[r] as number) < sequence) missing.push(r);
    }
    return missing;
  }

  #ask(sequence: number): void {
    this.#askedFor = sequence;
    this.#sendControl(CONTROL.ASK, sequence);
  }

  /** Sends one control message to every other rank (small: MPI completes it without the peer). */
  #sendControl(type: number, value: number, only?: number): void {
    for (let r = 0; r < this.size; r++) {
      if (r === this.rank || (only !== undefined && r !== only)) continue;
      const words = Int32Array.of(type, value);
      try {
        const request = this.native.isend(this.comms.chan, r, TAG.CONTROL, words);
        progress.add(new Wait(this.native, [request], [words], null));
      } catch {
        // The group is failing anyway; a peer that cannot be told times out on its own.
      }
    }
  }

  /** Ends the group here with `error`: every waiting operation rejects; `tell`: the others fail too. */
  fail(error: CommError, tell: boolean): void {
    if (this.#failure !== null || this.#closed) return;
    this.#failure = error;
    if (tell) this.#sendControl(CONTROL.FAILED, this.#entered);
    for (const wait of this.#waits) wait.reject(error);
    this.#waits.clear();
    for (const listener of this.#failureListeners) listener(error);
  }

  /** Control messages: answered or acted on. The progress loop calls this on every tick. */
  poll(): boolean {
    let any = false;
    for (;;) {
      let found: [number, number, number, number] | null;
      try {
        found = this.native.improbe(this.comms.chan, -1, TAG.CONTROL);
      } catch {
        return any;
      }
      if (found === null) break;
      const words = new Int32Array(CONTROL_WORDS);
      this.#controlIn.push({ source: found[0], words, request: this.native.imrecv(found[3], words) });
      any = true;
    }
    while (this.#controlIn.length > 0) {
      const head = this.#controlIn[0] as { source: number; words: Int32Array; request: number };
      try {
        if (!this.native.test(head.request)) break;
      } catch {
        // A control message that fails to arrive: nothing to act on.
      }
      this.#controlIn.shift();
      this.#onControl(head.source, head.words[0] as number, head.words[1] as number);
    }
    return any;
  }

  #onControl(source: number, type: number, value: number): void {
    switch (type) {
      case CONTROL.ASK:
        if (!this.#closed) this.#sendControl(CONTROL.ANSWER, this.#entered, source);
        return;
      case CONTROL.ANSWER:
        this.#answers[source] = Math.max(this.#answers[source] as number, value);
        return;
      case CONTROL.CLOSED: {
        const error = new CommError(
          'CollectiveFailed',
          'collective',
          `rank ${source} closed its communicator; the group cannot continue. Create a new communicator.`,
          { rank: source, ranks: [source] },
        );
        // The closer had entered (and finished) `value` collectives: one of ours it had entered still
        // completes in MPI without it, so it is left to finish; the next collective fails at begin().
        // Message operations learn at once (the pair channel's listeners).
        if (value >= this.#entered && this.#waits.size > 0) {
          this.#closedAfter ??= error;
          for (const listener of this.#failureListeners) listener(error);
          return;
        }
        this.fail(error, false);
        return;
      }
      case CONTROL.FAILED:
        this.fail(
          new CommError(
            'CollectiveFailed',
            'collective',
            `rank ${source} ended the group (a timeout or an MPI error there); create a new communicator.`,
            { rank: source, ranks: [source] },
          ),
          false,
        );
        return;
    }
  }

  /** close(): the others learn it (CollectiveFailed naming this rank); waiting operations reject. */
  close(): void {
    if (this.#closed) return;
    if (this.#failure === null) this.#sendControl(CONTROL.CLOSED, this.#entered);
    const error = new CommError(
      'InvalidCommunicator',
      'collective',
      'the communicator was closed while this collective was in flight.',
      {},
    );
    this.#closed = true;
    LIVE_GROUPS.delete(this);
    for (const wait of this.#waits) wait.reject(error);
    this.#waits.clear();
    for (const listener of this.#failureListeners) listener(error);
    progress.removePoller(this);
  }
}

/** Groups not yet closed in this process: a program that ends without close() still tells its peers. */
const LIVE_GROUPS = new Set<MpiGroup>();

/**
 * At exit, before MPI_Finalize: closes every group this process left open, so the other ranks get
 * CollectiveFailed naming this rank (its CLOSED notice, an eager send MPI completes without the peer)
 * instead of waiting for it until their timeout (spec/backend-mpi.md §3.1).
 */
export function closeLiveGroups(): void {
  for (const group of [...LIVE_GROUPS]) group.close();
}
