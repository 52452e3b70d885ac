export {
  createShmGroup,
  isShmGroupHandle,
  type ShmGroup,
  type ShmGroupHandle,
  type ShmGroupOptions,
} from './group.js';
export { connectShm, type ShmConnectOptions } from './shm-backend.js';

/**
 * The key under which a launcher puts { group: ShmGroupHandle, rank: number } in a worker thread's workerData.
 * A thread started so joins its group with a plain `init()` (spec/selection.md §1, spec/backend-shm.md §7.2).
 */
export const SHM_WORKER_DATA_KEY = '__collectiveShm';
