/**
 * Shared regions on MPI (spec/backend-mpi.md §5): an MPI-3 shared window (MPI_Win_allocate_shared on
 * the node's MPI_COMM_TYPE_SHARED communicator) whose one segment, owned by the node's rank 0 (the
 * leader), every rank of the node maps: `data` is a view of the same bytes in every process.
 *
 * fence() is MPI_Win_sync (this rank's loads and stores ordered), a barrier over the node's ranks with
 * agreement (a `fence` fingerprint, so a rank calling something else at this point is a
 * CollectiveMismatch), and MPI_Win_sync again. The window is freed by MPI_Finalize at exit, not by
 * close(): MPI_Win_free is a collective and close() is not (§5.3).
 */
import type { SharedRegion } from '../../communicator/communicator.js';
import { CommError } from '../../communicator/errors.js';
import type { NumericArray } from '../../communicator/dtypes.js';
import { fingerprint } from '../../communicator/fingerprint.js';
import type { MpiGroup } from './group.js';

const FENCE_FINGERPRINT = fingerprint('fence');

export class MpiSharedRegion<T extends NumericArray> implements SharedRegion<T> {
  #closed = false;

  constructor(
    readonly data: T,
    readonly isLeader: boolean,
    readonly window: number,
    readonly group: MpiGroup,
  ) {}

  async fence(): Promise<void> {
    const operation = 'fence';
    if (this.#closed)
      throw new CommError('InvalidCommunicator', operation, 'the shared region is closed.', {});
    const { native } = this.group;
    native.winSync(this.window);
    await this.group.agreeOnNode(operation, FENCE_FINGERPRINT);
    native.winSync(this.window);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
