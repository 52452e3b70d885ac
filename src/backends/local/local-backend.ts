/**
 * The local backend: one rank, identity semantics (spec/communicator.md §8). Every collective is
 * what it would be in a world of one: allreduce copies, allgatherv places the one block, broadcast and
 * barrier return at once. Preconditions are checked by the front end exactly as for every backend.
 */
import {
  CheckedCommunicator,
  type Backend,
  type Communicator,
  type SharedRegion,
} from '../../communicator/communicator.js';
import type { DType, NumericArray } from '../../communicator/dtypes.js';
import { HeapRegion } from '../../communicator/heap-region.js';
import { allocate } from '../../communicator/validate.js';

class LocalBackend implements Backend {
  readonly name = 'local';
  readonly rank = 0;
  readonly size = 1;
  readonly isLeader = true;

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
    return createLocalCommunicator();
  }

  async close(): Promise<void> {}
}

/** A communicator of one rank. Always available; the fallback of the selection chain. */
export function createLocalCommunicator(): Communicator {
  return new CheckedCommunicator(new LocalBackend());
}
