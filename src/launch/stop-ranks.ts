/** Stopping every rank of a run: a polite signal, a short grace period, then the end. */
import type { RankExit, RankHandle } from './rank-handle.js';

/** How long a process rank has to exit after SIGTERM before SIGKILL (well inside the 2 s reap bound). */
export const STOP_GRACE_MS = 500;

/**
 * Ends every rank still running and resolves when all of them are reaped. Processes get SIGTERM and,
 * after graceMs, SIGKILL. Threads get the grace period too before terminate(): a thread's stdout is
 * relayed by its own event loop in chunks the parent acknowledges, so a thread terminated at once would
 * lose what it wrote last (issue 11 item 7). The caller has already asked them to stop (train's stop
 * message, the shm group's abort, which fails their collectives). The ranks in `spared` (one that
 * reported its failure and is exiting, or the peer such a report names) are only ended if they are
 * still there after graceMs, so that their own exit codes and errors reach the parent.
 */
export async function stopRanks(
  ranks: readonly RankHandle[],
  graceMs: number = STOP_GRACE_MS,
  spared: readonly number[] = [],
): Promise<RankExit[]> {
  for (const rank of ranks) {
    if (!rank.running || spared.includes(rank.rank)) continue;
    if (rank.kind === 'process') rank.signal('SIGTERM');
  }
  const hardStop = setTimeout(() => {
    for (const rank of ranks) rank.kill();
  }, graceMs);
  try {
    return await Promise.all(ranks.map((rank) => rank.reaped));
  } finally {
    clearTimeout(hardStop);
  }
}
