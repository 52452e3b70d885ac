/**
 * collective's tcp backend, ranks the real way: R child processes over 127.0.0.1, rank 0 the star's
 * coordinator on an ephemeral port; launch cost through train({ backend: 'tcp' }).
 */
import { resultsFromRanks } from '../harness/rank-report.js';
import { byRanks, type RunContext, type Runner, type ScalingModel } from '../harness/runner.js';
import { runProcessWorld } from '../harness/process-world.js';
import { worldWarmupMs, type Operation, type Result, type Workload } from '../harness/workload.js';
import { measureLaunch } from './launch.js';
import type { StarBackend, StarRankConfig } from './star-rank.js';

/**
 * spec/performance.md §3.2: the star. Every byte passes through rank 0, which handles its R−1 peers
 * one after another: a per-peer cost a (a frame each way, an event-loop turn) and a per-byte cost b
 * on the bytes the coordinator receives plus sends.
 */
export const TCP_MODEL: ScalingModel = {
  formula: 'T = a·(R−1) + b·(bytes through rank 0)',
  coefficients: ['a (per peer)', 'b (per byte)'],
  features(operation: Operation, ranks: number, bytes: number): number[] {
    const peers = ranks - 1;
    const through: Record<Operation, number> = {
      // in: (R−1)·n to reduce; out: the (R−1)·n result
      allreduce: 2 * peers * bytes,
      // in: (R−1)·n blocks; out: the other R−1 blocks to each of R−1 peers
      allgatherv: peers * bytes + peers * peers * bytes,
      // out: n to each of R−1 peers
      broadcast: peers * bytes,
      barrier: 0,
      // Messages (not modelled, report/scaling.ts): rank 0 is an end of the 2-rank ping-pong; alltoall's
      // blocks between ranks ≥ 1 pass rank 0 when they are relayed through it.
      pingpong: 2 * bytes,
      alltoall: 2 * peers * peers * bytes,
      launch: 0,
    };
    return [peers, through[operation]];
  },
};

/**
 * Runs a star backend's workloads: per rank count, one world of child processes over 127.0.0.1
 * (star-rank.ts), then the launch cost through train({ backend }).
 */
export async function runStarWorlds(
  backend: StarBackend,
  workloads: readonly Workload[],
  context: RunContext,
  variant: { name: string; algorithm: 'star' | 'direct' } | undefined = undefined,
): Promise<Result[]> {
  const name = variant?.name ?? backend;
  const results: Result[] = [];
  for (const [ranks, group] of byRanks(workloads)) {
    const collectives = group.filter((w) => w.operation !== 'launch');
    if (collectives.length > 0) {
      context.log(`${name}: ${ranks} processes, ${collectives.length} workloads`);
      const timings = await runProcessWorld({
        ranks,
        entry: new URL('./star-rank.ts', import.meta.url),
        config: (rank, port): StarRankConfig => ({
          backend,
          rank,
          size: ranks,
          port,
          workloads: collectives,
          library: context.library,
          worldWarmupMs: worldWarmupMs(context.quick),
          ...(variant ? { algorithm: variant.algorithm } : {}),
        }),
      });
      results.push(...resultsFromRanks(name, collectives, timings));
    }
    if (variant) continue; // launch cost does not depend on the algorithm: the tcp runner measures it
    for (const w of group.filter((g) => g.operation === 'launch')) {
      const launched = await measureLaunch(backend, backend, w, context);
      if (launched) results.push(launched);
    }
  }
  return results;
}

export class TcpRunner implements Runner {
  readonly name = 'tcp';
  readonly label = 'collective tcp';
  readonly kind = 'backend';
  readonly compareWith: readonly string[] = ['mpi-tcp', 'socket-rtt'];
  readonly inQuick = true;
  readonly model = TCP_MODEL;

  covers(): boolean {
    return true;
  }

  async unavailable(): Promise<string | null> {
    return null;
  }

  run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    return runStarWorlds('tcp', workloads, context);
  }
}

/**
 * spec/performance.md §4.6: the direct algorithms. Each rank sends and receives 2·(R−1)/R·n in
 * 2·(R−1) messages (reduce-scatter then allgather), so a per-message cost a and a per-byte cost b on
 * the bytes one rank moves; every rank works at once.
 */
export const TCP_DIRECT_MODEL: ScalingModel = {
  formula: 'T = a·2(R−1) + b·(bytes one rank sends)',
  coefficients: ['a (per message)', 'b (per byte)'],
  features(operation: Operation, ranks: number, bytes: number): number[] {
    const peers = ranks - 1;
    const perRank: Record<Operation, [number, number]> = {
      allreduce: [2 * peers, (2 * peers * bytes) / ranks],
      allgatherv: [peers, peers * bytes],
      broadcast: [2 * peers, (2 * peers * bytes) / ranks],
      barrier: [0, 0],
      pingpong: [2, 2 * bytes],
      alltoall: [peers, peers * bytes],
      launch: [0, 0],
    };
    return perRank[operation];
  },
};

/**
 * collective's tcp backend with one collective algorithm forced (TcpOptions.algorithm): `tcp-star`
 * through rank 0 at every size, `tcp-direct` over pairwise messages at every size; the plain `tcp`
 * runner measures the default (`auto`). Launch cost is the tcp runner's.
 */
export class TcpAlgorithmRunner implements Runner {
  readonly name: string;
  readonly label: string;
  readonly kind = 'backend';
  readonly compareWith: readonly string[];
  /** Not in the CI smoke (--quick runs every runner that says true): name it with --runners. */
  readonly inQuick = false;
  readonly model: ScalingModel;

  constructor(readonly algorithm: 'star' | 'direct') {
    this.name = `tcp-${algorithm}`;
    this.label = `collective tcp (${algorithm})`;
    this.model = algorithm === 'star' ? TCP_MODEL : TCP_DIRECT_MODEL;
    this.compareWith = algorithm === 'star' ? ['mpi-tcp'] : ['mpi-tcp', 'tcp-star'];
  }

  covers(workload: Workload): boolean {
    return workload.operation !== 'launch';
  }

  async unavailable(): Promise<string | null> {
    return null;
  }

  run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    return runStarWorlds('tcp', workloads, context, { name: this.name, algorithm: this.algorithm });
  }
}
