/** Order statistics over batch timings, and the max-over-ranks reduction the MPI baseline also uses. */
import { deliveredBytes, type Result, type Workload } from './workload.js';

/** The q-quantile (0 ≤ q ≤ 1) of values by linear interpolation between closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('quantile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  const low = sorted[lo] as number;
  return low + ((sorted[hi] as number) - low) * (at - lo);
}

/**
 * Batch b of the world took as long as its slowest rank: the per-batch maximum over ranks.
 * timingsByRank[r][b] is rank r's microseconds per operation in batch b.
 */
export function maxOverRanks(timingsByRank: readonly (readonly number[])[]): number[] {
  const first = timingsByRank[0];
  if (!first) throw new Error('no rank timings');
  return first.map((_, b) => Math.max(...timingsByRank.map((t) => t[b] ?? Number.NaN)));
}

const US_PER_S = 1e6;
const BYTES_PER_GB = 1e9;

export function summarise(runner: string, workload: Workload, batchesUs: readonly number[]): Result {
  const medianUs = quantile(batchesUs, 0.5);
  return {
    runner,
    workload,
    medianUs,
    p10Us: quantile(batchesUs, 0.1),
    p90Us: quantile(batchesUs, 0.9),
    gbps: throughput(workload, medianUs),
  };
}

/** A result from a baseline that reports only the median. */
export function medianOnly(runner: string, workload: Workload, medianUs: number): Result {
  return { runner, workload, medianUs, p10Us: null, p90Us: null, gbps: throughput(workload, medianUs) };
}

function throughput(workload: Workload, medianUs: number): number | null {
  const bytes = deliveredBytes(workload);
  if (bytes === 0 || !(medianUs > 0)) return null;
  return bytes / BYTES_PER_GB / (medianUs / US_PER_S);
}
