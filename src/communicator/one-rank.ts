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
import { unwiredChannel } from './messages/unwired.js';

class OneRankBackend implements Backend {
  readonly name = 'local';
  readonly rank = 0;
  readonly size = 1;
  readonly isLeader = true;
  readonly channel = unwiredChannel('local', 1800, 60);

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

  async close(): Promise<void> {}
}

/** A communicator of one rank (backend name 'local'). */
export function createOneRankCommunicator(): Communicator {
  return new CheckedCommunicator(new OneRankBackend());
}
