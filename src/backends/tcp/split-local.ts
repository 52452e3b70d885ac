/**
 * splitLocal() on tcp (spec/backend-tcp.md §8): ranks share no memory, so each process is a node
 * group of one. A backend never imports another backend, so this is tcp's own one-rank backend with
 * the identity semantics of spec/communicator.md §8, behind the shared front end.
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

class ProcessGroupOfOne implements Backend {
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
    return splitLocalCommunicator();
  }

  async close(): Promise<void> {}
}

export function splitLocalCommunicator(): Communicator {
  return new CheckedCommunicator(new ProcessGroupOfOne());
}
