/**
 * collective's shm backend, ranks the real way: R worker threads of this process joined to one
 * createShmGroup(); launch cost through train({ backend: 'shm' }).
 */
import { availableParallelism } from 'node:os';
import { SPLIT_REDUCTION_MIN_BYTES } from '../../src/backends/shm/collectives.js';
import { DEFAULT_SLOT_BYTES, MAX_DEFAULT_DATA_BYTES } from '../../src/backends/shm/group.js';
import { createShmGroup } from '../../src/backends/shm/index.js';
import { RANK_TIMEOUT_SECS, resultsFromRanks } from '../harness/rank-report.js';
import { byRanks, type RunContext, type Runner, type ScalingModel } from '../harness/runner.js';
import { runThreadWorld } from '../harness/thread-world.js';
import { worldWarmupMs, type Operation, type Result, type Workload } from '../harness/workload.js';
import { measureLaunch } from './launch.js';
import type { ShmRankData } from './shm-rank.js';

const CORES = availableParallelism();

/** The slot a rank writes per round (group.ts: 4 MiB, at most 512 MiB over 2 halves × R slots). */
function slotBytes(ranks: number): number {
  return Math.min(DEFAULT_SLOT_BYTES, MAX_DEFAULT_DATA_BYTES / (2 * ranks));
}

/** Barriers and bytes copied or reduced through the data region, summed over all ranks (§3.1). */
export function shmWork(
  operation: Operation,
  ranks: number,
  bytes: number,
): { barriers: number; moved: number } {
  const slot = slotBytes(ranks);
  const rounds = Math.max(1, Math.ceil(bytes / slot));
  switch (operation) {
    case 'allreduce': {
      // Split path: write n, reduce n/R of every slot, copy n out; else every rank reduces all R slots.
      const split = ranks > 1 && Math.min(bytes, slot) >= SPLIT_REDUCTION_MIN_BYTES;
      return split
        ? { barriers: 2 * rounds, moved: 3 * ranks * bytes }
        : { barriers: rounds, moved: ranks * bytes + ranks * ranks * bytes };
    }
    case 'allgatherv':
      return { barriers: rounds, moved: ranks * bytes + ranks * ranks * bytes };
    case 'broadcast':
      return { barriers: Math.max(1, Math.ceil(bytes / (ranks * slot))), moved: ranks * bytes };
    // Messages, not rounds: not modelled (report/scaling.ts fits the collectives above); for completeness,
    // a message is written into shared memory by its sender and copied out by its receiver.
    case 'pingpong':
      return { barriers: 0, moved: 4 * bytes };
    case 'alltoall':
      return { barriers: 0, moved: 2 * ranks * ranks * bytes };
    case 'barrier':
    case 'launch':
      return { barriers: 1, moved: 0 };
  }
}

/**
 * spec/performance.md §3.1: a collective is a fixed number of barriers with copies and reductions
 * through the shared data region between them. With R threads on C cores a barrier costs a round per
 * ⌈R/C⌉ threads sharing a core, and the bytes all ranks move are spread over min(R, C) cores.
 */
export const SHM_MODEL: ScalingModel = {
  formula: 'T = a·barriers·⌈R/C⌉ + b·(bytes all ranks move)/min(R, C), C = cores',
  coefficients: ['a (barrier round)', 'b (per byte)'],
  features(operation: Operation, ranks: number, bytes: number): number[] {
    const { barriers, moved } = shmWork(operation, ranks, bytes);
    return [barriers * Math.ceil(ranks / CORES), moved / Math.min(ranks, CORES)];
  },
};

export class ShmRunner implements Runner {
  readonly name = 'shm';
  readonly label = 'collective shm';
  readonly kind = 'backend';
  readonly compareWith: readonly string[] = ['mpi-vader', 'postmessage'];
  readonly inQuick = true;
  readonly model = SHM_MODEL;

  covers(): boolean {
    return true;
  }

  async unavailable(): Promise<string | null> {
    return null;
  }

  async run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    const results: Result[] = [];
    for (const [ranks, group] of byRanks(workloads)) {
      const collectives = group.filter((w) => w.operation !== 'launch');
      if (collectives.length > 0) {
        context.log(`shm: ${ranks} threads, ${collectives.length} workloads`);
        const shm = createShmGroup({ size: ranks });
        const timings = await runThreadWorld({
          ranks,
          entry: new URL('./shm-rank.ts', import.meta.url),
          workerData: (rank): ShmRankData => ({
            group: shm.handle,
            rank,
            workloads: collectives,
            timeoutSecs: RANK_TIMEOUT_SECS,
            library: context.library,
            worldWarmupMs: worldWarmupMs(context.quick),
          }),
          onFailure: (rank, reason) => shm.abort(rank, reason),
        });
        results.push(...resultsFromRanks(this.name, collectives, timings));
      }
      for (const w of group.filter((g) => g.operation === 'launch')) {
        const launched = await measureLaunch(this.name, 'shm', w, context);
        if (launched) results.push(launched);
      }
    }
    return results;
  }
}
