/**
 * Warnings for working but poor choices (spec/selection.md §7): emitted through process.emitWarning
 * with a stable code, at most once per process for each distinct warning, so a loop of init() calls
 * or many ranks in one process do not flood stderr.
 */
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

/** More ranks spinning on shared memory than cores: each waiting rank burns a core others need. */
export function oversubscriptionWarning(ranks: number, cores: number): SelectionWarning {
  return {
    code: 'COLLECTIVE_OVERSUBSCRIBED',
    message: `${ranks} shm ranks spin-wait on ${cores} cores: expect slow collectives; launch at most ${cores} ranks per node`,
  };
}
