/**
 * The heap fallback for shared regions (spec/communicator.md §4.8): every rank is its own leader and
 * holds its own copy; fence() has nothing to order. Used by `local`, and by `tcp` where ranks share
 * no memory.
 */
import type { NumericArray } from './dtypes.js';
import type { SharedRegion } from './communicator.js';

export class HeapRegion<T extends NumericArray> implements SharedRegion<T> {
  readonly isLeader = true;
  #closed = false;

  constructor(readonly data: T) {}

  get closed(): boolean {
    return this.#closed;
  }

  async fence(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
  }
}
