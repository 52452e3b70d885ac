/**
 * The performance targets of the shm, tcp, ws, small-message and messages (15) issues, checked against one run (2 ranks
 * unless stated, medians, same run). A target is a bound on backend ÷ baseline.
 */
import { ALLTOALL_LARGEST_BYTES, LAUNCH_WORKERS, MIB, type Workload } from '../harness/workload.js';
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
/** Issue 15: a send/recv round trip (osu_latency), and alltoall at 1 MiB per pair, 4 ranks (osu_alltoall). */
const pingpong8 = { operation: 'pingpong', dtype: f64, bytes: 8, ranks: 2 } as const;
const pingpong2MiB = { operation: 'pingpong', dtype: f64, bytes: 2 * MIB, ranks: 2 } as const;
const alltoall1MiB4 = { operation: 'alltoall', dtype: f64, bytes: ALLTOALL_LARGEST_BYTES, ranks: 4 } as const;

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
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: pingpong8,
    maxRatio: 2,
    statement: 'shm ping-pong 8 B ≤ 2× Open MPI vader',
  },
  {
    backend: 'tcp',
    baseline: 'socket-rtt',
    workload: pingpong8,
    maxRatio: 1.3,
    statement: 'tcp ping-pong 8 B ≤ 1.3× raw socket round trip',
  },
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: pingpong2MiB,
    maxRatio: 1,
    statement: 'shm ping-pong 2 MiB ≤ 1.0× vader',
  },
  {
    // The same bytes each way: at least the raw round trip's bandwidth is at most its time.
    backend: 'tcp',
    baseline: 'socket-rtt',
    workload: pingpong2MiB,
    maxRatio: 1,
    statement: "tcp ping-pong 2 MiB ≥ raw socket round trip's bandwidth (time ≤ 1.0×)",
  },
  {
    backend: 'shm',
    baseline: 'mpi-vader',
    workload: alltoall1MiB4,
    maxRatio: 1.5,
    statement: 'shm alltoall 1 MiB per pair, 4 ranks ≤ 1.5× Open MPI vader',
  },
  {
    backend: 'tcp',
    baseline: 'mpi-tcp',
    workload: alltoall1MiB4,
    maxRatio: 1.5,
    statement: 'tcp alltoall 1 MiB per pair, 4 ranks ≤ 1.5× Open MPI tcp',
  },
  // Issue 14 (scale out): the direct algorithms forced (tcp-direct) against Open MPI and the star forced
  // (tcp-star); the default (tcp, auto) keeps small calls on the star.
  {
    backend: 'tcp-direct',
    baseline: 'mpi-tcp',
    workload: { ...allreduce2MiB, ranks: 4 },
    maxRatio: 1,
    statement: 'tcp direct allreduce 2 MiB, 4 ranks ≤ 1.0× Open MPI tcp',
  },
  {
    backend: 'tcp-direct',
    baseline: 'tcp-star',
    workload: { ...allreduce2MiB, ranks: 8 },
    maxRatio: 1 / 3,
    statement: 'tcp direct allreduce 2 MiB, 8 ranks ≥ 3× faster than the star',
  },
  {
    backend: 'tcp',
    baseline: 'tcp-star',
    workload: allreduce8,
    maxRatio: 1.1,
    statement: 'tcp (auto) allreduce 8 B no slower than the star (≤ 1.1×, the noise of one run)',
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
