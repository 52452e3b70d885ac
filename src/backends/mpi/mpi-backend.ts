/**
 * The mpi backend's collectives (spec/backend-mpi.md §4): MPI moves the bytes, our kernel reduces.
 * MPI's own reductions are never used: their order is the library's choice, and our promise is the
 * rank-order fold of src/communicator/reduce.ts, bit for bit, on every backend.
 *
 * - allreduce, small (≤ smallBytes): one MPI_Iallgather of [fingerprint | data] blocks; every rank
 *   checks the fingerprints and folds the blocks in rank order (§4.1).
 * - allreduce, large: an MPI_Iallgather of fingerprints, then MPI_Ialltoallv gives rank r every rank's
 *   slice r; rank r folds them in rank order; MPI_Iallgatherv gives everyone every folded slice (§4.2).
 * - allgatherv, broadcast: the fingerprint round, then MPI_Iallgatherv / MPI_Ibcast (§4.3).
 * - barrier: the fingerprint round is the barrier.
 */
import { totalmem } from 'node:os';
import {
  CheckedCommunicator,
  type Backend,
  type Communicator,
  type SharedRegion,
} from '../../communicator/communicator.js';
import { dtypeOf, type DType, type NumericArray, type ReduceOp } from '../../communicator/dtypes.js';
import { CommError } from '../../communicator/errors.js';
import { fingerprint, FINGERPRINT_BYTES, type Fingerprint } from '../../communicator/fingerprint.js';
import { HeapRegion } from '../../communicator/heap-region.js';
import { reduceRankOrder } from '../../communicator/reduce.js';
import { allocate } from '../../communicator/validate.js';
import { MpiPairChannel } from './channel.js';
import { AGREEMENT_BLOCK_BYTES, INLINE_BYTES, MpiGroup, type GroupSettings } from './group.js';
import { MpiSharedRegion } from './region.js';

/** Default: allreduce payloads up to this many bytes take the one-round gather-and-fold path. */
export const DEFAULT_SMALL_BYTES = 16 * 1024;
/** splitLocal's agreement: a barrier fingerprint told apart by this digest ("splitLocal" in ASCII-ish). */
const SPLIT_LOCAL_DIGEST = 0x5b1170ca;

export interface MpiBackendSettings extends GroupSettings {
  /** allreduce payloads up to this many bytes are gathered whole (§4.1); tests lower it. */
  readonly smallBytes: number;
}

function bytesOf(a: NumericArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export class MpiBackend implements Backend {
  readonly name = 'mpi';
  readonly rank: number;
  readonly size: number;
  readonly isLeader: boolean;
  readonly channel: MpiPairChannel;
  #scratch: { dtype: DType; slices: NumericArray; folded: NumericArray } | null = null;

  constructor(
    readonly group: MpiGroup,
    readonly settings: MpiBackendSettings,
  ) {
    this.rank = group.rank;
    this.size = group.size;
    this.isLeader = group.nodeRank === 0;
    this.channel = new MpiPairChannel(group);
  }

  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): Promise<void> | void {
    const sequence = this.group.begin('allreduce');
    const dtype = dtypeOf(send) as DType;
    const n = send.length;
    if (send.byteLength <= INLINE_BYTES) {
      // §4.1: the data rides in the agreement round: one MPI call, then the fold.
      return this.group.agree('allreduce', sequence, fp, bytesOf(send), (all) => {
        const parts: NumericArray[] = [];
        for (let r = 0; r < this.size; r++) {
          parts.push(new dtype.ctor(all.buffer, r * AGREEMENT_BLOCK_BYTES + FINGERPRINT_BYTES, n));
        }
        reduceRankOrder(recv, parts, op);
      });
    }
    if (send.byteLength <= this.settings.smallBytes)
      return this.#gatherAllreduce(sequence, fp, dtype, send, recv, op);
    return this.#largeAllreduce(sequence, fp, dtype, send, recv, op);
  }

  /** §4.1: agreement, then every rank's whole contribution gathered and folded in rank order. */
  async #gatherAllreduce(
    sequence: number,
    fp: Fingerprint,
    dtype: DType,
    send: NumericArray,
    recv: NumericArray,
    op: ReduceOp,
  ): Promise<void> {
    const { group } = this;
    await group.agree('allreduce', sequence, fp);
    const n = send.length;
    const all = new dtype.ctor(n * this.size);
    const request = group.start('allreduce', () => group.native.iallgather(group.comms.coll, send, all));
    await group.wait('allreduce', sequence, [request], [send, all]);
    const parts: NumericArray[] = [];
    for (let r = 0; r < this.size; r++) parts.push(all.subarray(r * n, (r + 1) * n));
    reduceRankOrder(recv, parts, op);
  }

  async #largeAllreduce(
    sequence: number,
    fp: Fingerprint,
    dtype: DType,
    send: NumericArray,
    recv: NumericArray,
    op: ReduceOp,
  ): Promise<void> {
    const { group } = this;
    await group.agree('allreduce', sequence, fp);
    const n = send.length;
    const size = this.size;
    const counts = new Int32Array(size);
    const displs = new Int32Array(size);
    for (let r = 0; r < size; r++) {
      displs[r] = Math.floor((n * r) / size);
      counts[r] = Math.floor((n * (r + 1)) / size) - (displs[r] as number);
    }
    const mineCount = counts[this.rank] as number;
    const { slices, folded } = this.#scratchFor(dtype, mineCount);
    const sliceCounts = new Int32Array(size).fill(mineCount);
    const sliceDispls = Int32Array.from({ length: size }, (_, r) => r * mineCount);
    const exchange = group.start('allreduce', () =>
      group.native.ialltoallv(
        group.comms.coll,
        send,
        counts,
        displs,
        slices,
        sliceCounts,
        sliceDispls,
        dtype.bytes,
      ),
    );
    await group.wait(
      'allreduce',
      sequence,
      [exchange],
      [send, slices, counts, displs, sliceCounts, sliceDispls],
    );
    const parts: NumericArray[] = [];
    for (let r = 0; r < size; r++) parts.push(slices.subarray(r * mineCount, (r + 1) * mineCount));
    reduceRankOrder(folded, parts, op);
    const gather = group.start('allreduce', () =>
      group.native.iallgatherv(group.comms.coll, folded, recv, counts, displs, dtype.bytes),
    );
    await group.wait('allreduce', sequence, [gather], [folded, recv, counts, displs]);
  }

  /**
   * The large path's buffers, kept while dtype and slice length stay: fresh 2 MiB arrays on every call
   * cost first-touch page faults and MPI's memory registration again (measured: ~15 ms per 2 MiB
   * allreduce at 2 ranks, against 0.5 ms reused). Calls on one communicator are serial, so one set serves.
   */
  #scratchFor(dtype: DType, mineCount: number): { slices: NumericArray; folded: NumericArray } {
    const scratch = this.#scratch;
    if (scratch !== null && scratch.dtype === dtype && scratch.folded.length === mineCount) return scratch;
    const fresh = { dtype, slices: new dtype.ctor(mineCount * this.size), folded: new dtype.ctor(mineCount) };
    this.#scratch = fresh;
    return fresh;
  }

  async allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> {
    const { group } = this;
    const sequence = group.begin('allgatherv');
    await group.agree('allgatherv', sequence, fp);
    const c = Int32Array.from(counts);
    const d = Int32Array.from(displs);
    const unit = (dtypeOf(send) as DType).bytes;
    const request = group.start('allgatherv', () =>
      group.native.iallgatherv(group.comms.coll, send, recv, c, d, unit),
    );
    await group.wait('allgatherv', sequence, [request], [send, recv, c, d]);
  }

  async broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> {
    const { group } = this;
    const sequence = group.begin('broadcast');
    await group.agree('broadcast', sequence, fp);
    const unit = (dtypeOf(buf) as DType).bytes;
    const request = group.start('broadcast', () => group.native.ibcast(group.comms.coll, buf, root, unit));
    await group.wait('broadcast', sequence, [request], [buf]);
  }

  barrier(fp: Fingerprint): Promise<void> | void {
    const sequence = this.group.begin('barrier');
    return this.group.agree('barrier', sequence, fp);
  }

  async createSharedRegion<T extends NumericArray>(
    fp: Fingerprint,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>> {
    const operation = 'createSharedRegion';
    const { group } = this;
    const sequence = group.begin(operation);
    await group.agree(operation, sequence, fp);
    if (group.nodeSize === 1) return new HeapRegion(allocate<T>(operation, dtype, count));
    const bytes = count * dtype.bytes;
    // Decided alike on every rank of the node (same count, same machine): a segment larger than the
    // node's memory is refused before MPI is asked, which could fail on the leader alone.
    if (bytes > totalmem()) {
      throw new CommError(
        'AllocationFailed',
        operation,
        `could not allocate ${count} × ${dtype.name} (${bytes} bytes): more than this node's memory (${totalmem()} bytes). Use a smaller count or stream the data in parts.`,
        { count, bytes },
      );
    }
    // Every rank of the node passed the agreement, so this blocking collective of theirs is short.
    const [window, buffer] = group.start(operation, () =>
      group.native.winAllocateShared(group.comms.node, bytes),
    );
    // The leader zero-filled the segment; nobody reads it before that.
    const ordered = group.start(operation, () => group.native.ibarrier(group.comms.node));
    await group.wait(operation, sequence, [ordered], []);
    const data = new dtype.ctor(buffer, 0, count) as T;
    return new MpiSharedRegion(data, group.nodeRank === 0, window, group);
  }

  async splitLocal(): Promise<Communicator> {
    const operation = 'splitLocal';
    const { group } = this;
    const sequence = group.begin(operation);
    await group.agree(operation, sequence, fingerprint('barrier', { digest: SPLIT_LOCAL_DIGEST }));
    // Every rank passed the agreement: the node's blocking dups below meet at once.
    const node = group.start(operation, () => groupOnNode(group));
    return new CheckedCommunicator(new MpiBackend(node, this.settings));
  }

  async close(): Promise<void> {
    this.channel.close();
    this.group.close();
  }
}

/** A group over this group's node communicator (splitLocal): its own dups, so traffic stays apart. */
function groupOnNode(group: MpiGroup): MpiGroup {
  const { native } = group;
  const coll = native.commDup(group.comms.node);
  const chan = native.commDup(group.comms.node);
  const node = native.commSplitShared(coll);
  return new MpiGroup(native, { coll, chan, node }, group.settings);
}
