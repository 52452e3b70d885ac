/**
 * Warnings for working but poor choices (spec/selection.md §7): emitted through process.emitWarning
 * with a stable code, at most once per process for each distinct warning, so a loop of init() calls
 * or many ranks in one process do not flood stderr.
 */
import { availableParallelism } from 'node:os';
import { rowOf, type TableName } from './backends.js';
import type { SelectionWarning } from './config.js';

export const WARNING_TYPE = 'CollectiveWarning';

const emitted = new Set<string>();

/** Emits the warning unless this process already emitted the same one; returns whether it did. */
export function emitWarningOnce(warning: SelectionWarning): boolean {
  const key = `${warning.code}\u0000${warning.message}`;
  if (emitted.has(key)) return false;
  emitted.add(key);
  process.emitWarning(warning.message, { type: WARNING_TYPE, code: warning.code });
  return true;
}

export const OVERSUBSCRIBED_CODE = 'COLLECTIVE_OVERSUBSCRIBED';

/**
 * More ranks on this node than cores. shm ranks spin-wait, so each waiting rank burns a core others
 * need; tcp ranks only share the cores. Said once per launch: by the launcher that started the ranks
 * (train(), `collective run`), else by rank 0 of a shm group (spec/selection.md §7).
 */
export function oversubscriptionWarning(ranks: number, cores: number, backend: TableName): SelectionWarning {
  const { launch } = rowOf(backend);
  if (launch.ranks === 'one' || launch.ranks === 'mpirun') {
    throw new Error(`internal error: our launchers do not start the ${backend} backend's ranks`);
  }
  const effect = launch.oversubscribed(cores);
  return {
    code: OVERSUBSCRIBED_CODE,
    message: `${ranks} ${backend} ranks ${effect}; launch at most ${cores} ranks per node`,
  };
}

/** The warning a launcher gives before it starts `ranks` ranks on this node, or null when they fit. */
export function launchOversubscription(ranks: number, backend: TableName): SelectionWarning | null {
  const cores = availableParallelism();
  // mpirun's ranks: mpirun itself is told --oversubscribe (spec/train.md §7.10).
  const { launch } = rowOf(backend);
  return launch.ranks !== 'one' && launch.ranks !== 'mpirun' && ranks > cores
    ? oversubscriptionWarning(ranks, cores, backend)
    : null;
}
