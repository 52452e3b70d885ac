/**
 * The communicator of one rank, with identity semantics (spec/communicator.md §8): every collective is
 * what it would be in a world of one. It is the `local` backend, and the node group of one that
 * `splitLocal()` returns wherever ranks share no memory (tcp) — so it lives in the contract layer,
 * where every backend may use it without importing another backend.
 */
import { CheckedCommunicator, type Backend, type Communicator, type SharedRegion } from './communicator.js';
import type { DType, NumericArray } from './dtypes.js';
import { HeapRegion } from './heap-region.js';
import { allocate } from './validate.js';
import { CommError, DEFAULT_STALL_WARNING_SECS } from './errors.js';
import type { FrameSink, PairChannel } from './messages/channel.js';

class OneRankBackend implements Backend {
  readonly name = 'local';
  readonly rank = 0;
  readonly size = 1;
  readonly isLeader = true;
  readonly channel = new OneRankChannel();

  allreduce(_fp: unknown, send: NumericArray, recv: NumericArray): void {
    if (recv !== send) (recv as Float64Array).set(send as Float64Array);
  }

  allgatherv(
    _fp: unknown,
    send: NumericArray,
    recv: NumericArray,
    _counts: unknown,
    displs: readonly number[],
  ): void {
    (recv as Float64Array).set(send as Float64Array, displs[0]);
  }

  broadcast(): void {}

  barrier(): void {}

  async createSharedRegion<T extends NumericArray>(
    _fp: unknown,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>> {
    return new HeapRegion(allocate<T>('createSharedRegion', dtype, count));
  }

  async splitLocal(): Promise<Communicator> {
    return createOneRankCommunicator();
  }

  async close(): Promise<void> {
    this.channel.fail(
      new CommError(
        'InvalidCommunicator',
        'close',
        'the communicator was closed while this message operation waited; call init() again to communicate again.',
        { rank: 0 },
      ),
    );
  }
}

/** The fatal timeout of a one-rank world's waiting message operation (s): the default of every backend. */
const ONE_RANK_TIMEOUT_SECS = 1800;
/** How often the keep-alive timer of a waiting operation fires (ms); it does nothing but exist. */
const KEEP_ALIVE_MS = 60_000;

/**
 * The pair channel of a world of one: there is no other rank, and self-sends never reach a channel,
 * so a post is an internal error. It keeps the process alive while a message operation waits (a
 * receive whose self-send has not been made yet), and reports close() as the group's failure.
 */
export class OneRankChannel implements PairChannel {
  readonly stallWarningSecs = DEFAULT_STALL_WARNING_SECS;
  readonly timeoutSecs = ONE_RANK_TIMEOUT_SECS;
  #onFailure: ((error: CommError) => void) | null = null;
  #keepAlive: ReturnType<typeof setInterval> | null = null;

  post(dest: number): Promise<void> {
    return Promise.reject(
      new CommError(
        'CollectiveFailed',
        'send',
        `internal error: a world of one rank has no rank ${dest} to post to.`,
        {
          rank: dest,
        },
      ),
    );
  }

  attach(_sink: FrameSink, onFailure: (error: CommError) => void): void {
    this.#onFailure = onFailure;
  }

  setActive(active: boolean): void {
    if (active && this.#keepAlive === null) this.#keepAlive = setInterval(() => {}, KEEP_ALIVE_MS);
    if (!active && this.#keepAlive !== null) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = null;
    }
  }

  fail(error: CommError): void {
    this.setActive(false);
    const onFailure = this.#onFailure;
    this.#onFailure = null;
    onFailure?.(error);
  }
}

/** A communicator of one rank (backend name 'local'). */
export function createOneRankCommunicator(): Communicator {
  return new CheckedCommunicator(new OneRankBackend());
}
