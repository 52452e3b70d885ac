/**
 * What a rank of a benchmark world tells its parent (over postMessage for threads, IPC for processes),
 * and how the parent turns every rank's batch timings into Results.
 */
import { maxOverRanks, summarise } from './stats.js';
import type { Result, Workload } from './workload.js';

export type RankReport =
  /** timings[i][b]: µs per operation of workload i in batch b on this rank. */
  | { readonly kind: 'timings'; readonly rank: number; readonly timings: number[][] }
  | { readonly kind: 'error'; readonly rank: number; readonly message: string }
  /** tcp rank 0: the coordinator listens here; the parent starts the other ranks with it. */
  | { readonly kind: 'listening'; readonly rank: number; readonly port: number };

/** A rank gives up when a collective makes no progress for this long (CommError 'Timeout'). */
export const RANK_TIMEOUT_SECS = 60;

export function isRankReport(value: unknown): value is RankReport {
  return typeof value === 'object' && value !== null && 'kind' in value && 'rank' in value;
}

export function describeFailure(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** One Result per workload: per batch the slowest rank, then median/p10/p90 over batches. */
export function resultsFromRanks(
  runner: string,
  workloads: readonly Workload[],
  timingsByRank: readonly (readonly (readonly number[])[])[],
): Result[] {
  return workloads.map((w, i) =>
    summarise(runner, w, maxOverRanks(timingsByRank.map((perWorkload) => perWorkload[i] ?? []))),
  );
}
