/**
 * The performance targets of the shm, tcp, ws and small-message issues, checked against one run (2 ranks unless stated,
 * medians, same run). A target is a bound on backend ÷ baseline.
 */
import { LAUNCH_WORKERS, MIB, type Workload } from '../harness/workload.js';
import { formatRatio, formatUs, markdownTable } from './format.js';
import type { ResultIndex } from './results-index.js';

export interface Target {
  readonly backend: string;
  readonly baseline: string;
  readonly workload: Pick<Workload, 'operation' | 'dtype' | 'bytes' | 'ranks'>;
  /** Met when backend ÷ baseline ≤ this. */
  readonly maxRatio: number;
  readonly statement: string;
}

const f64 = 'float64' as const;
const allreduce8 = { operation: 'allreduce', dtype: f64, bytes: 8, ranks: 2 } as const;
const allreduce2MiB = { operation: 'allreduce', dtype: f64, bytes: 2 * MIB, ranks: 2 } as const;
/** train() with LAUNCH_WORKERS workers, call to every rank connected (spec/performance.md §2.4). */
const launch4 = { operation: 'launch', dtype: f64, bytes: 0, ranks: LAUNCH_WORKERS } as const;

export const TARGETS: readonly Target[] = [
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: allreduce8,
    maxRatio: 2,
    statement: 'shm allreduce 8 B ≤ 2× Open MPI vader',
  },
  {
    backend: 'shm',
    baseline: 'postmessage',
    workload: allreduce8,
    maxRatio: 0.01,
    statement: 'shm allreduce 8 B ≥ 100× faster than postMessage',
  },
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: allreduce2MiB,
    maxRatio: 1,
    statement: 'shm allreduce 2 MiB ≤ 1.0× vader',
  },
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: { operation: 'barrier', dtype: f64, bytes: 0, ranks: 2 },
    maxRatio: 2,
    statement: 'shm barrier ≤ 2× vader',
  },
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: { ...allreduce8, ranks: 4 },
    maxRatio: 3,
    statement: 'shm allreduce 8 B, 4 ranks on 2 cores ≤ 3× vader oversubscribed',
  },
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: launch4,
    maxRatio: 2,
    statement: 'train() 4 workers on shm, call to all connected ≤ 2× mpirun -n 4 true',
  },
  {
    backend: 'tcp',
    baseline: 'socket-rtt',
    workload: allreduce8,
    maxRatio: 1.3,
    statement: 'tcp allreduce 8 B ≤ 1.3× raw socket round trip',
  },
  {
    backend: 'tcp',
    baseline: 'mpi-tcp',
    workload: allreduce2MiB,
    maxRatio: 1,
    statement: 'tcp allreduce 2 MiB ≤ 1.0× Open MPI tcp, 2 ranks',
  },
  {
    backend: 'tcp',
    baseline: 'mpi-tcp',
    workload: { ...allreduce2MiB, ranks: 4 },
    maxRatio: 1.5,
    statement: 'tcp allreduce 2 MiB ≤ 1.5× Open MPI tcp, 4 ranks',
  },
  {
    backend: 'tcp',
    baseline: 'mpi-vader',
    workload: launch4,
    maxRatio: 4,
    statement: 'train() 4 workers on tcp, call to all connected ≤ 4× mpirun -n 4 true',
  },
  {
    backend: 'ws',
    baseline: 'tcp',
    workload: allreduce8,
    maxRatio: 1.3,
    statement: 'ws allreduce 8 B ≤ 1.3× tcp (same run)',
  },
  {
    backend: 'ws',
    baseline: 'tcp',
    workload: allreduce2MiB,
    maxRatio: 1.2,
    statement: 'ws allreduce 2 MiB ≤ 1.2× tcp (same run)',
  },
];

export interface TargetOutcome {
  readonly target: Target;
  readonly oursUs: number | null;
  readonly theirsUs: number | null;
  readonly ratio: number | null;
  /** null when either side was not measured in this run. */
  readonly met: boolean | null;
}

export function checkTargets(index: ResultIndex): TargetOutcome[] {
  return TARGETS.map((target) => {
    const oursUs = index.get(target.backend, target.workload)?.medianUs ?? null;
    const theirsUs = index.get(target.baseline, target.workload)?.medianUs ?? null;
    const ratio = oursUs !== null && theirsUs !== null && theirsUs > 0 ? oursUs / theirsUs : null;
    return { target, oursUs, theirsUs, ratio, met: ratio === null ? null : ratio <= target.maxRatio };
  });
}

export function targetsTable(outcomes: readonly TargetOutcome[]): string {
  const rows = outcomes.map((o) => [
    o.target.statement,
    formatUs(o.oursUs),
    formatUs(o.theirsUs),
    formatRatio(o.ratio),
    o.met === null
      ? 'not measured'
      : o.met
        ? 'met'
        : `missed by ${((o.ratio as number) / o.target.maxRatio).toFixed(1)}×`,
  ]);
  return markdownTable(
    ['target (2 ranks unless stated)', 'ours µs', 'baseline µs', 'ratio', 'verdict'],
    rows,
  );
}
