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
): Promise<Result[]> {
  const results: Result[] = [];
  for (const [ranks, group] of byRanks(workloads)) {
    const collectives = group.filter((w) => w.operation !== 'launch');
    if (collectives.length > 0) {
      context.log(`${backend}: ${ranks} processes, ${collectives.length} workloads`);
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
        }),
      });
      results.push(...resultsFromRanks(backend, collectives, timings));
    }
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
