/**
 * The direct algorithms (spec/backend-tcp.md §13) as a Backend around a backend whose pair channel
 * reaches every rank: allreduce, allgatherv and broadcast take pairwise messages when the policy
 * says so, everything else is the inner backend's.
 *
 * A direct call first agrees: `inner.barrier(fp)` with the call's own fingerprint, so ranks that
 * disagree (dtype, count, op, root, layout, or a precondition failure on one rank) raise the same
 * error on every rank before a byte of data moves, as the inner backend's own round would. Only
 * then does the data move, as messages in the world's collective context (1) with tags in
 * {@link DIRECT_TAGS}, numbered by a sequence that every rank advances on the same agreed calls.
 * The algorithms only use the message layer, so they run over any pair channel (the star's relay,
 * direct peer links, shared memory); they are fast where the channel is direct.
 */
import type { Backend } from '../communicator.js';
import { dtypeOf, type DType, type NumericArray, type ReduceOp } from '../dtypes.js';
import { CommError } from '../errors.js';
import { fingerprint, type Fingerprint } from '../fingerprint.js';
import { messageLayerFor } from '../messages/engine.js';
import { WORLD_CONTEXT, type MessageGroup } from '../messages/layer.js';
import { BlockMover, ROOTED_TAG_BASE, sameBytes, type TagRange } from '../rooted/blocks.js';
import { allocate } from '../validate.js';
import { exchangeBlocks, reduceScatterAllgather, scatterAllgather, stagingLength } from './moves.js';
import { goesDirect, type AlgorithmPolicy } from './policy.js';

/** The first tag of the direct collectives; their range ends where the rooted collectives' begins. */
export const DIRECT_TAG_BASE = 0x2000_0000;

/** The direct collectives' tags in the world's collective context: call n uses DIRECT_TAG_BASE + n % span. */
export const DIRECT_TAGS: TagRange = {
  base: DIRECT_TAG_BASE,
  span: ROOTED_TAG_BASE - DIRECT_TAG_BASE,
  family: 'direct',
};

/**
 * `backend` with the policy's collectives on direct messages (spec/backend-tcp.md §13); the same
 * backend when it has one rank. Every rank of the group must pass equal policies.
 *
 * Memory: a direct allreduce of n elements stages at most (R − 1) × ⌈n / R⌉ elements (the other
 * ranks' parts of this rank's range: (R − 1)/R of the buffer, rounded up to whole parts), allocated before agreement so
 * that running out of memory is `AllocationFailed` on every rank, and kept for the next call (one buffer per
 * communicator, the largest staging so far, released at close()); allgatherv and broadcast receive
 * straight into the caller's array and stage nothing. Besides that, only the message layer's
 * frames in flight (eager copies of at most 64 KiB each).
 */
export function withDirectAlgorithms(backend: Backend, policy: AlgorithmPolicy): Backend {
  // Two ranks: direct moves the same bytes per rank as the star (n each way) plus its agreement
  // round, so `auto` keeps them on the star; `direct` still forces it (tests, comparisons).
  const worthIt = backend.size > 2 || (backend.size === 2 && policy.algorithm === 'direct');
  return worthIt ? new DirectAlgorithms(backend, policy) : backend;
}

class DirectAlgorithms implements Backend {
  readonly #inner: Backend;
  readonly #policy: AlgorithmPolicy;
  /** Direct calls that passed agreement: the same count on every rank, so it numbers their tags. */
  #sequence = 0;
  #group: MessageGroup | null = null;
  /** The allreduce staging kept for the next call (#stagingFor). */
  #staging: ArrayBuffer | null = null;

  constructor(inner: Backend, policy: AlgorithmPolicy) {
    this.#inner = inner;
    this.#policy = policy;
  }

  get name(): Backend['name'] {
    return this.#inner.name;
  }
  get rank(): number {
    return this.#inner.rank;
  }
  get size(): number {
    return this.#inner.size;
  }
  get isLeader(): boolean {
    return this.#inner.isLeader;
  }
  get channel(): Backend['channel'] {
    return this.#inner.channel;
  }

  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): Promise<void> | void {
    if (!goesDirect(this.#policy, 'allreduce', send.byteLength)) {
      return this.#inner.allreduce(fp, send, recv, op);
    }
    return this.#allreduce(fp, send, recv, op);
  }

  async #allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): Promise<void> {
    const dtype = dtypeOf(send) as DType;
    const { rank, size } = this;
    const stagingElements = stagingLength(send.length, size, rank, sameBytes(send, recv));
    const { mover, prepared: staging } = await this.#agree(fp, dtype, () =>
      this.#stagingFor(fp, dtype, stagingElements),
    );
    await reduceScatterAllgather(mover, rank, size, send, recv, op, staging);
  }

  allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> | void {
    const total = counts.reduce((a, b) => a + b, 0);
    if (!goesDirect(this.#policy, 'allgatherv', total * send.BYTES_PER_ELEMENT)) {
      return this.#inner.allgatherv(fp, send, recv, counts, displs);
    }
    return this.#agree(fp, dtypeOf(send) as DType).then(({ mover }) =>
      exchangeBlocks(mover, this.rank, this.size, send, recv, counts, displs),
    );
  }

  broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> | void {
    if (!goesDirect(this.#policy, 'broadcast', buf.byteLength)) {
      return this.#inner.broadcast(fp, buf, root);
    }
    return this.#agree(fp, dtypeOf(buf) as DType).then(({ mover }) =>
      scatterAllgather(mover, this.rank, this.size, buf, root),
    );
  }

  /**
   * The allreduce staging, reused across calls: fresh memory costs a page fault per page on first
   * write, which on some machines (VMs) is several ms per MiB — more than moving the bytes. One
   * buffer per communicator, as large as the largest staging so far, released at close().
   */
  #stagingFor(fp: Fingerprint, dtype: DType, elements: number): NumericArray {
    const bytes = elements * dtype.bytes;
    if (this.#staging === null || this.#staging.byteLength < bytes) {
      this.#staging = null;
      this.#staging = allocate<NumericArray>(fp.kind, dtype, elements).buffer as ArrayBuffer;
    }
    return new dtype.ctor(this.#staging, 0, elements) as NumericArray;
  }

  barrier(fp: Fingerprint): Promise<void> | void {
    return this.#inner.barrier(fp);
  }
  createSharedRegion: Backend['createSharedRegion'] = (fp, dtype, count) =>
    this.#inner.createSharedRegion(fp, dtype, count);
  splitLocal: Backend['splitLocal'] = () => this.#inner.splitLocal();
  close(): Promise<void> {
    this.#staging = null;
    return this.#inner.close();
  }

  /**
   * The agreement round (§13.2). `prepare` (what the call allocates) runs first: when it fails, this
   * rank takes part with an `invalid` fingerprint, so every rank raises its code, and then throws
   * its own error. Resolves with the call's mover once every rank agreed.
   */
  async #agree<T>(
    fp: Fingerprint,
    dtype: DType,
    prepare?: () => T,
  ): Promise<{ mover: BlockMover; prepared: T }> {
    let prepared: T;
    try {
      prepared = prepare ? prepare() : (undefined as T);
    } catch (error) {
      const code = error instanceof CommError ? error.code : 'AllocationFailed';
      await Promise.resolve(this.#inner.barrier(fingerprint(fp.kind, { invalid: code }))).catch(() => {});
      throw error;
    }
    await this.#inner.barrier(fp);
    const sequence = this.#sequence++;
    return { mover: new BlockMover(this.#messageGroup(), sequence, dtype, fp.kind, DIRECT_TAGS), prepared };
  }

  /** The world's place in its message layer (the channel is attached on first use). */
  #messageGroup(): MessageGroup {
    if (this.#group === null) {
      const { channel, rank, size } = this.#inner;
      this.#group = {
        layer: messageLayerFor(channel, rank, size),
        context: WORLD_CONTEXT,
        members: Array.from({ length: size }, (_, r) => r),
      };
    }
    return this.#group;
  }
}
