/**
 * The mpi backend (spec/backend-mpi.md): the ranks of an MPI job (`mpirun -n 4 node app.js`), over the
 * system's MPI through our Node-API addon. MPI_Init_thread once per process, MPI_Finalize at exit;
 * rank and size are MPI_COMM_WORLD's.
 */
import { CheckedCommunicator, type Communicator } from '../../communicator/communicator.js';
import { BackendError, DEFAULT_STALL_WARNING_SECS } from '../../communicator/errors.js';
import { loadAddon, type MpiNative } from './addon.js';
import { closeLiveGroups, MpiGroup } from './group.js';
import { DEFAULT_SMALL_BYTES, MpiBackend } from './mpi-backend.js';
import { progress, Wait } from './progress.js';

export { buildRecord, loadAddon } from './addon.js';

/** The fatal timeout when none is given, in seconds (as every backend's). */
const DEFAULT_TIMEOUT_SECS = 1800;

/** Settings of {@link connectMpi}; every field optional. */
export interface MpiOptions {
  /** Seconds without progress before a collective rejects with Timeout (default 1800). */
  timeoutSecs?: number;
  /** Seconds between stall warnings of a waiting collective; 0: never (default 60). */
  stallWarningSecs?: number;
  /** allreduce payloads up to this many bytes take the gather-and-fold path (default 16 KiB). */
  smallBytes?: number;
  /** Stall warnings; default process.emitWarning with code COLLECTIVE_STALL. */
  onStall?: (message: string) => void;
  /** The rank the launcher's variables name: MPI_COMM_WORLD's must be the same (else IncompatibleSettings). */
  expectRank?: number;
  /** The size the launcher's variables name: MPI_COMM_WORLD's must be the same. */
  expectSize?: number;
}

let finalizeHooked = false;
/** Set to 1 by `collective run --backend mpi`: a rank exiting non-zero calls MPI_Abort with its code (§3.1). */
export const ABORT_ON_FAILURE_VARIABLE = 'COLLECTIVE_MPI_ABORT_ON_FAILURE';

function initialized(native: MpiNative): { rank: number; size: number } {
  try {
    const world = native.init();
    if (!finalizeHooked) {
      finalizeHooked = true;
      // MPI_Finalize once, at exit: after it MPI cannot start again in this process (§3.1). Under
      // `collective run --backend mpi` a failing exit aborts the job instead: MPI_Finalize would wait for
      // ranks that wait for this one, and MPI_Abort makes mpirun stop them and exit with this code.
      const abortOnFailure = process.env[ABORT_ON_FAILURE_VARIABLE] === '1';
      process.once('exit', (code) => {
        if (abortOnFailure && code !== 0) return native.abort(code);
        closeLiveGroups();
        native.finalize();
      });
    }
    return world;
  } catch (error) {
    throw new BackendError(
      'InitializationFailed',
      `MPI_Init_thread failed: ${error instanceof Error ? error.message : String(error)}`,
      {},
      'run collective doctor under the same launcher; check that mpirun and the MPI the addon was built against are the same installation',
    );
  }
}

/**
 * Joins this process's MPI job as a communicator over MPI_COMM_WORLD (spec/backend-mpi.md §3).
 * Collective: every rank of the job calls it. Again after close(): a new communicator (new MPI
 * communicators under the same MPI_Init).
 *
 * @throws {@link BackendError} `BackendNotAvailable` when the addon is not built or does not load;
 *   `InitializationFailed` when MPI does not start.
 */
export async function connectMpi(options: MpiOptions = {}): Promise<Communicator> {
  return new CheckedCommunicator(await connectMpiBackend(options));
}

/**
 * The Backend under {@link connectMpi}'s communicator, for tests of its pair channel
 * (test/backends/mpi/): the same start, without the front end.
 */
export async function connectMpiBackend(options: MpiOptions = {}): Promise<MpiBackend> {
  const addon = loadAddon();
  if (!addon.loaded) {
    throw new BackendError(
      'BackendNotAvailable',
      `the mpi backend cannot run here: ${addon.reason}`,
      {},
      'pick another backend with COLLECTIVE_BACKEND',
    );
  }
  const native = addon.native;
  const world = initialized(native);
  for (const [what, expected, actual] of [
    ['rank', options.expectRank, world.rank],
    ['size', options.expectSize, world.size],
  ] as const) {
    if (expected !== undefined && expected !== actual) {
      throw new BackendError(
        'IncompatibleSettings',
        `the environment names ${what} ${expected}, but MPI_COMM_WORLD's ${what} is ${actual}`,
        { [what]: expected, mpi: actual },
        'launch the ranks with mpirun (or srun) and leave COLLECTIVE_RANK/COLLECTIVE_SIZE unset: MPI says who is who',
      );
    }
  }
  const settings = {
    timeoutSecs: options.timeoutSecs ?? DEFAULT_TIMEOUT_SECS,
    stallWarningSecs: options.stallWarningSecs ?? DEFAULT_STALL_WARNING_SECS,
    smallBytes: options.smallBytes ?? DEFAULT_SMALL_BYTES,
    ...(options.onStall ? { onStall: options.onStall } : {}),
  };
  // Every rank arrives before the blocking MPI_Comm_dup calls below, so they never hold the event
  // loop waiting for a rank that is still starting.
  const arrived = new Wait(native, [native.ibarrier(0)], [], null);
  progress.add(arrived);
  await arrived.done;
  const coll = native.commDup(0);
  const chan = native.commDup(0);
  const node = native.commSplitShared(coll);
  const group = new MpiGroup(native, { coll, chan, node }, settings);
  return new MpiBackend(group, settings);
}
