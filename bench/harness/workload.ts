/**
 * What the harness measures (a Workload) and what it reports (a Result), and the plan of workloads
 * for a full or a --quick run. spec/performance.md §2 states the conventions; keep the two in step.
 */

/**
 * The collectives measured; 'pingpong': rank 0 sends n bytes to rank 1 and receives them back (send/recv,
 * osu_latency's loop; one operation is the whole round trip), 2 ranks only; 'alltoall': n bytes from
 * every rank to every rank (osu_alltoall); and 'launch': time from train() to every rank connected.
 */
export type Operation =
  'allreduce' | 'allgatherv' | 'broadcast' | 'barrier' | 'pingpong' | 'alltoall' | 'launch';

/** float64 plus one integer dtype (the reduction kernel differs between them). */
export type BenchDType = 'float64' | 'int32';

export interface Workload {
  readonly operation: Operation;
  readonly dtype: BenchDType;
  /**
   * Bytes each rank contributes: the allreduce/broadcast buffer, one allgatherv block, the ping-pong
   * message, the alltoall block per pair (each rank sends ranks × bytes); 0 for barrier.
   */
  readonly bytes: number;
  readonly ranks: number;
  /** Operations per timed batch. */
  readonly iterations: number;
  /** Untimed operations before the first batch (connections, JIT, page faults). */
  readonly warmup: number;
  /**
   * Then more untimed operations, `iterations` at a time, until rank 0 has spent this long (ms) on
   * the workload: a path met for the first time (a large message's framing, staging and reduction
   * loops) runs several times slower until V8 has compiled it, for tens of operations, and a few
   * warm-up operations at 2 MiB do not cover that. 0 for launch (each launch is fresh).
   */
  readonly warmupMs: number;
  /** Timed batches; median/p10/p90 are taken over them. */
  readonly batches: number;
}

export interface Result {
  /** The runner that measured it (a backend or a baseline). */
  readonly runner: string;
  readonly workload: Workload;
  /** Per-operation time in microseconds: median, 10th and 90th percentile over batches (max over ranks). */
  readonly medianUs: number;
  /** null where the baseline reports only a median. */
  readonly p10Us: number | null;
  readonly p90Us: number | null;
  /** Bytes delivered into each rank's result per second at the median, in GB/s (1e9 B/s); null for barrier/launch. */
  readonly gbps: number | null;
}

export const KIB = 1024;
export const MIB = 1024 * KIB;

/** The OSU-style ladder: ×8 steps from 8 B (8 B … 2 MiB), capped by 8 MiB, the largest message measured. */
export const SIZE_STEP = 8;
export const SMALLEST_BYTES = 8;
export const LARGEST_BYTES = 8 * MIB;
/** --quick stays at and below this size, in ×64 steps (8 B, 512 B, 32 KiB): the big sizes are for the full run. */
export const QUICK_LARGEST_BYTES = 32 * KIB;
const QUICK_SIZE_STRIDE = 2;

export const FULL_RANKS = [2, 4, 8] as const;
export const QUICK_RANKS = [2, 4] as const;
/** The train() launch cost is measured for this many workers (issue 7). */
export const LAUNCH_WORKERS = 4;
/** Ping-pong is between two ranks (osu_latency). */
export const PINGPONG_RANKS = 2;
/**
 * Alltoall's block per pair stops here in a full run (each rank sends ranks × this), and this size is
 * always measured: issue 15's target is alltoall at 1 MiB per pair, 4 ranks (off the ×8 ladder).
 */
export const ALLTOALL_LARGEST_BYTES = 1 * MIB;

/**
 * Bytes per rank per timed batch at most: iterations shrink as messages grow. Small messages are
 * capped at RANK_ITERATIONS ÷ ranks per batch, since an operation costs about R times more at R ranks
 * (a full run stays within minutes on 2 cores).
 */
const BATCH_BYTES_FULL = 8 * MIB;
const BATCH_BYTES_QUICK = 1 * MIB;
const RANK_ITERATIONS_FULL = 1000;
const RANK_ITERATIONS_QUICK = 100;
const MIN_ITERATIONS = 2;
/**
 * Untimed operations before the first batch, at least (full run; --quick: the quick figure). A large
 * message's path (framing, staging, reduction and copy loops) runs 3–10× slower for its first 20–30
 * operations, until V8 has optimised it (measured at 2 MiB, tcp and ws, 2 ranks); OSU's benchmarks
 * likewise skip their first operations. Small messages get ⌈iterations ÷ 4⌉, far more.
 */
const MIN_WARMUP_FULL = 40;
const MIN_WARMUP_QUICK = 4;
const BATCHES_FULL = 7;
const BATCHES_QUICK = 5;
/** Launches timed per backend (each one starts fresh workers). */
const LAUNCHES_FULL = 7;
const LAUNCHES_QUICK = 2;

/**
 * Before its first workload a world exercises the collectives for this long (rank 0's clock): the
 * first fraction of a second of fresh threads runs several times slower (code still compiling in
 * the background on 2 busy cores), which is not what a long job sees.
 */
const WORLD_WARMUP_MS_FULL = 1000;
const WORLD_WARMUP_MS_QUICK = 200;
/** Per workload, after its warm-up operations (rank 0's clock; Workload.warmupMs). */
const WORKLOAD_WARMUP_MS_FULL = 200;
const WORKLOAD_WARMUP_MS_QUICK = 20;

export function worldWarmupMs(quick: boolean): number {
  return quick ? WORLD_WARMUP_MS_QUICK : WORLD_WARMUP_MS_FULL;
}

export interface PlanOptions {
  readonly quick: boolean;
  /** Restrict to these rank counts (default: 2, 4, 8; quick: 2, 4). */
  readonly ranks?: readonly number[];
  /** Restrict to these operations (default: all). */
  readonly operations?: readonly Operation[];
  /** Restrict to these sizes in bytes (default: the ladder). */
  readonly bytes?: readonly number[];
}

export function sizeLadder(largest: number): number[] {
  const sizes: number[] = [];
  for (let b = SMALLEST_BYTES; b <= largest; b *= SIZE_STEP) sizes.push(b);
  if (sizes[sizes.length - 1] !== largest && largest === LARGEST_BYTES) sizes.push(largest);
  return sizes;
}

/** Operations per batch for one that moves `bytes` per rank (alltoall: its whole send buffer, ranks × block). */
export function iterationsFor(bytes: number, ranks: number, quick: boolean): number {
  const budget = quick ? BATCH_BYTES_QUICK : BATCH_BYTES_FULL;
  const most = Math.floor((quick ? RANK_ITERATIONS_QUICK : RANK_ITERATIONS_FULL) / ranks);
  return Math.max(MIN_ITERATIONS, Math.min(most, Math.floor(budget / Math.max(bytes, 1))));
}

function workload(
  operation: Operation,
  dtype: BenchDType,
  bytes: number,
  ranks: number,
  quick: boolean,
): Workload {
  if (operation === 'launch') {
    // Quick: no warm-up launch (it costs as much as a measured one); a smoke number, not for quoting.
    const launches = quick ? LAUNCHES_QUICK : LAUNCHES_FULL;
    return {
      operation,
      dtype,
      bytes,
      ranks,
      iterations: 1,
      warmup: quick ? 0 : 1,
      warmupMs: 0,
      batches: launches,
    };
  }
  const iterations = iterationsFor(operation === 'alltoall' ? bytes * ranks : bytes, ranks, quick);
  return {
    operation,
    dtype,
    bytes,
    ranks,
    iterations,
    warmup: Math.max(quick ? MIN_WARMUP_QUICK : MIN_WARMUP_FULL, Math.ceil(iterations / 4)),
    warmupMs: quick ? WORKLOAD_WARMUP_MS_QUICK : WORKLOAD_WARMUP_MS_FULL,
    batches: quick ? BATCHES_QUICK : BATCHES_FULL,
  };
}

/**
 * Every workload of a run: allreduce in float64 and int32, allgatherv and broadcast in float64 over the
 * size ladder, barrier, at each rank count; ping-pong over the ladder at 2 ranks; alltoall over the
 * ladder up to ALLTOALL_LARGEST_BYTES and at it (full run); and the launch cost at LAUNCH_WORKERS.
 */
export function planWorkloads(options: PlanOptions): Workload[] {
  const { quick } = options;
  const ranksList = options.ranks ?? (quick ? QUICK_RANKS : FULL_RANKS);
  const wanted = (op: Operation): boolean => options.operations?.includes(op) ?? true;
  const ladder = quick
    ? sizeLadder(QUICK_LARGEST_BYTES).filter((_, i) => i % QUICK_SIZE_STRIDE === 0)
    : sizeLadder(LARGEST_BYTES);
  const sizes = [...new Set(options.bytes ?? ladder)].filter((b) => b > 0);
  const plan: Workload[] = [];
  for (const ranks of ranksList) {
    if (wanted('barrier')) plan.push(workload('barrier', 'float64', 0, ranks, quick));
    for (const bytes of sizes) {
      if (wanted('allreduce')) plan.push(workload('allreduce', 'float64', bytes, ranks, quick));
      if (wanted('allreduce')) plan.push(workload('allreduce', 'int32', bytes, ranks, quick));
      if (wanted('allgatherv')) plan.push(workload('allgatherv', 'float64', bytes, ranks, quick));
      if (wanted('broadcast')) plan.push(workload('broadcast', 'float64', bytes, ranks, quick));
    }
    if (wanted('pingpong') && ranks === PINGPONG_RANKS) {
      for (const bytes of sizes) plan.push(workload('pingpong', 'float64', bytes, ranks, quick));
    }
    if (wanted('alltoall')) {
      for (const bytes of alltoallSizes(sizes, options)) {
        plan.push(workload('alltoall', 'float64', bytes, ranks, quick));
      }
    }
  }
  if (wanted('launch') && (options.ranks === undefined || options.ranks.includes(LAUNCH_WORKERS))) {
    plan.push(workload('launch', 'float64', 0, LAUNCH_WORKERS, quick));
  }
  return plan;
}

/** The ladder up to ALLTOALL_LARGEST_BYTES and that size itself; exactly --bytes when given; quick: the quick ladder. */
function alltoallSizes(sizes: readonly number[], options: PlanOptions): number[] {
  if (options.bytes !== undefined || options.quick) return [...sizes];
  return [...sizes.filter((b) => b < ALLTOALL_LARGEST_BYTES), ALLTOALL_LARGEST_BYTES];
}

/** A stable key of what was measured, independent of who measured it (rows of the table). */
export function workloadKey(w: Pick<Workload, 'operation' | 'dtype' | 'bytes' | 'ranks'>): string {
  return `${w.operation}/${w.dtype}/${w.ranks}/${w.bytes}`;
}

/** Bytes that end up in each rank's result per operation (the numerator of GB/s). */
export function deliveredBytes(w: Workload): number {
  if (w.operation === 'allgatherv' || w.operation === 'alltoall') return w.bytes * w.ranks;
  if (w.operation === 'barrier' || w.operation === 'launch') return 0;
  return w.bytes;
}

export function formatBytes(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= KIB && bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} B`;
}
