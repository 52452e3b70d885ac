/**
 * collective's mpi backend (spec/backend-mpi.md): R ranks started by `mpirun --oversubscribe -n R`,
 * beside Open MPI's own C benchmark (mpi-vader: the same library underneath, so the ratio is our
 * binding's overhead) and our shm and tcp. Only where mpirun runs and the addon loads.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../../src/backends/mpi/addon.js';
import type { LibrarySource } from '../harness/library.js';
import { resultsFromRanks } from '../harness/rank-report.js';
import { byRanks, type RunContext, type Runner } from '../harness/runner.js';
import { worldWarmupMs, type Result, type Workload } from '../harness/workload.js';
import { onPath } from './baseline-process.js';

export interface MpiRankConfig {
  readonly workloads: readonly Workload[];
  readonly library: LibrarySource;
  readonly worldWarmupMs: number;
}

const RANK = fileURLToPath(new URL('./mpi-rank.ts', import.meta.url));
const ROOT_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };

function runWorld(
  ranks: number,
  config: MpiRankConfig,
): Promise<{ lines: Array<Record<string, unknown>>; output: string }> {
  const args = ['--oversubscribe', '-n', String(ranks), process.execPath, '--import', 'tsx', RANK];
  return new Promise((resolve, reject) => {
    const child = spawn('mpirun', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...ROOT_ENV, COLLECTIVE_BENCH_MPI: JSON.stringify(config) },
    });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const lines = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ lines, output });
    });
  });
}

export class MpiNativeRunner implements Runner {
  readonly name = 'mpi';
  readonly label = 'collective mpi';
  readonly kind = 'backend';
  readonly compareWith: readonly string[] = ['mpi-vader'];
  readonly inQuick = true;

  covers(w: Workload, quick: boolean): boolean {
    if (w.operation === 'launch') return false;
    // Like the C baseline: oversubscribed busy-polling MPI ranks measure the scheduler in quick mode.
    return !quick || w.ranks === 2;
  }

  async unavailable(): Promise<string | null> {
    if (!onPath('mpirun')) return 'Open MPI (mpirun) is not installed';
    const addon = loadAddon();
    return addon.loaded ? null : addon.reason;
  }

  async run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    const results: Result[] = [];
    for (const [ranks, group] of byRanks(workloads)) {
      context.log(`mpi: mpirun -n ${ranks}, ${group.length} workloads`);
      const config = {
        workloads: group,
        library: context.library,
        worldWarmupMs: worldWarmupMs(context.quick),
      };
      const { lines, output } = await runWorld(ranks, config);
      const timings: number[][][] = [];
      for (const line of lines) {
        if (line['kind'] === 'timings') timings[line['rank'] as number] = line['timings'] as number[][];
      }
      const failed = lines.find((l) => l['kind'] === 'error');
      if (failed || timings.filter(Boolean).length !== ranks) {
        context.problem(
          this.name,
          `mpirun -n ${ranks}: ${String(failed?.['message'] ?? output.slice(-500))}`,
        );
        continue;
      }
      results.push(...resultsFromRanks(this.name, group, timings));
    }
    return results;
  }
}
