/**
 * True shared regions (spec/backend-shm.md §6). A SharedArrayBuffer cannot be written into shared
 * memory, only posted; so after the agreement barrier the leader (rank 0) allocates the region and
 * announces it on a BroadcastChannel every rank of the group opened when it joined. Every rank then
 * holds a view of the same bytes: no copies.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { SharedRegion } from '../../communicator/communicator.js';
import type { DType, NumericArray } from '../../communicator/dtypes.js';
import { CommError } from '../../communicator/errors.js';
import { WAIT_SLICE_MS, type Barrier } from './barrier.js';

type Announcement = { sequence: number; buffer: SharedArrayBuffer } | { sequence: number; error: string };

/** The channel over which the leader hands every rank the buffer of a new region. */
export class RegionChannel {
  readonly #channel: BroadcastChannel;
  readonly #arrived = new Map<number, Announcement>();
  readonly #waiting = new Map<number, (a: Announcement) => void>();
  /**
   * Regions this rank gave up waiting for (timeout, abort) before their announcement came: when it
   * comes it is dropped instead of kept for the channel's lifetime. (Not a "highest sequence asked"
   * floor: a split communicator's region can be received before the parent's earlier one.)
   */
  readonly #abandoned = new Set<number>();

  constructor(name: string) {
    this.#channel = new BroadcastChannel(name);
    // Open for the communicator's lifetime, but it must not keep a finished worker alive.
    this.#channel.unref();
    this.#channel.onmessage = (event: unknown) => {
      const announcement = (event as { data: Announcement }).data;
      const waiter = this.#waiting.get(announcement.sequence);
      if (waiter) {
        this.#waiting.delete(announcement.sequence);
        waiter(announcement);
      } else if (!this.#abandoned.delete(announcement.sequence)) {
        this.#arrived.set(announcement.sequence, announcement);
      }
    };
  }

  announce(announcement: Announcement): void {
    this.#channel.postMessage(announcement);
  }

  /** Waits for the leader's announcement, failing on abort or after timeoutSecs. */
  receive(sequence: number, barrier: Barrier, timeoutSecs: number): Promise<Announcement> {
    const ready = this.#arrived.get(sequence);
    if (ready) {
      this.#arrived.delete(sequence);
      return Promise.resolve(ready);
    }
    const operation = 'createSharedRegion';
    return new Promise<Announcement>((resolve, reject) => {
      const deadline = performance.now() + timeoutSecs * 1000;
      const poll = setInterval(() => {
        try {
          barrier.throwIfAborted(operation);
          if (performance.now() > deadline) {
            throw new CommError(
              'Timeout',
              operation,
              `rank 0 did not announce the shared region within ${timeoutSecs} s.`,
              { sequence, missing: [0] },
            );
          }
        } catch (error) {
          clearInterval(poll);
          this.#waiting.delete(sequence);
          this.#abandoned.add(sequence);
          reject(error);
        }
      }, WAIT_SLICE_MS);
      this.#waiting.set(sequence, (a) => {
        clearInterval(poll);
        resolve(a);
      });
    });
  }

  /** Announcements kept for a later receive (tests: none is kept for a region given up on). */
  get kept(): number {
    return this.#arrived.size;
  }

  close(): void {
    this.#channel.close();
  }
}

export class ShmRegion<T extends NumericArray> implements SharedRegion<T> {
  #closed = false;
  constructor(
    readonly data: T,
    readonly isLeader: boolean,
    private readonly barrier: () => Promise<void> | void,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  async fence(): Promise<void> {
    if (this.#closed) {
      throw new CommError('InvalidCommunicator', 'fence', 'the shared region is closed.', {});
    }
    await this.barrier();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** The leader's side: allocate, or announce why not so nobody waits for nothing. */
export function allocateRegion(dtype: DType, count: number): SharedArrayBuffer | Error {
  try {
    return new SharedArrayBuffer(count * dtype.bytes);
  } catch (cause) {
    return cause as Error;
  }
}
