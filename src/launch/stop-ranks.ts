/** Stopping every rank of a run: a polite signal, a short grace period, then the end. */
import type { RankExit, RankHandle } from './rank-handle.js';

/** How long a process rank has to exit after SIGTERM before SIGKILL (well inside the 2 s reap bound). */
export const STOP_GRACE_MS = 500;

/**
 * Ends every rank still running and resolves when all of them are reaped. Processes get SIGTERM and,
 * after graceMs, SIGKILL; threads are terminated at once (terminate() is already the hard stop, and a
 * thread that spins in JavaScript could not act on a request anyway). The rank `exitingOnItsOwn` is
 * only ended if it is still there after graceMs.
 */
export async function stopRanks(
  ranks: readonly RankHandle[],
  graceMs: number = STOP_GRACE_MS,
  exitingOnItsOwn: number | null = null,
): Promise<RankExit[]> {
  for (const rank of ranks) {
    // A rank that just reported its failure is exiting: ending it now would lose its exit code.
    if (!rank.running || rank.rank === exitingOnItsOwn) continue;
    if (rank.kind === 'process') rank.signal('SIGTERM');
    else rank.kill();
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
