/**
 * Membership of a shared-memory group: either passed to init() as { group, rank }, or put by a launcher
 * into a worker thread's workerData under SHM_WORKER_DATA_KEY. Selection is the one place that reads
 * workerData; the handle itself is opaque here and checked by the shm backend when it connects.
 */
import { incompatible, parseRank, type Sourced } from './values.js';

/**
 * The key under which a launcher puts { group, rank } in a worker thread's workerData. It must equal
 * the shm backend's SHM_WORKER_DATA_KEY (test/selection/shm-key.test.ts checks); it is repeated here so
 * that selection does not load the shm module unless shm is selected.
 */
export const SHM_WORKER_DATA_KEY = '__collectiveShm';

export interface ShmMembership {
  readonly group: object;
  readonly rank: Sourced<number>;
  /**
   * A launcher of ours (train(), `collective run`) started this thread and has said what there is to say
   * about the launch (more ranks than cores): rank 0's init() does not say it again. Set by the
   * launcher as `launcherWarned: true` next to group and rank.
   */
  readonly launcherWarned: boolean;
}

/** The membership named by init options, or by workerData; undefined when this thread is in no group. */
export function readShmMembership(
  options: { group?: object; rank?: number },
  workerData: unknown,
): ShmMembership | undefined {
  if (options.group !== undefined) {
    if (options.group === null || typeof options.group !== 'object') {
      throw incompatible('options.group', options.group, 'a ShmGroupHandle');
    }
    if (options.rank === undefined)
      throw incompatible('options.rank', undefined, "this thread's rank in the group");
    return {
      group: options.group,
      rank: { value: parseRank('options.rank', options.rank), source: 'options.rank' },
      launcherWarned: false,
    };
  }
  if (workerData === null || typeof workerData !== 'object') return undefined;
  const entry = (workerData as Record<string, unknown>)[SHM_WORKER_DATA_KEY];
  if (entry === undefined) return undefined;
  const where = `workerData.${SHM_WORKER_DATA_KEY}`;
  if (entry === null || typeof entry !== 'object') throw incompatible(where, entry, '{ group, rank }');
  const { group, rank, launcherWarned } = entry as {
    group?: unknown;
    rank?: unknown;
    launcherWarned?: unknown;
  };
  if (group === null || typeof group !== 'object')
    throw incompatible(`${where}.group`, group, 'a ShmGroupHandle');
  if (typeof rank !== 'number') throw incompatible(`${where}.rank`, rank, 'an integer ≥ 0');
  return {
    group,
    rank: { value: parseRank(`${where}.rank`, rank), source: `${where}.rank` },
    launcherWarned: launcherWarned === true,
  };
}
