/**
 * Open MPI, the reference: ../shared/baselines/mpi-baseline.sh (one mpirun per rank count and BTL,
 * float64, ×8 sizes from 8 B, median of 7 batches, max over ranks), ping-pong and alltoall through
 * bench/baselines/mpi_msg_bench.c (mpi-messages.ts), and `mpirun -n 4 true` as the launch-cost
 * reference. Only where mpicc and mpirun exist: the script would otherwise install Open MPI.
 */
import type { Runner, RunContext } from '../harness/runner.js';
import { byRanks } from '../harness/runner.js';
import { medianOnly, summarise } from '../harness/stats.js';
import { SIZE_STEP, SMALLEST_BYTES, type Result, type Workload } from '../harness/workload.js';
import {
  baselinePath,
  missingFile,
  onPath,
  parseBaselineLines,
  runToCompletion,
} from './baseline-process.js';
import { isMessageOperation, measureMpiMessages, ROOT_ENV } from './mpi-messages.js';

export type MpiTransport = 'vader' | 'tcp';

const MPI_OPERATION_NAMES: Readonly<Record<string, Workload['operation']>> = {
  allreduce: 'allreduce',
  allgatherv: 'allgatherv',
  bcast: 'broadcast',
  barrier: 'barrier',
};

/** Open MPI tcp runs at 2 and 4 ranks (the tcp targets' rank counts). */
const MPI_TCP_MOST_RANKS = 4;

/** The script's sizes: 8 B × 8^k. */
function onLadder(bytes: number): boolean {
  let b = SMALLEST_BYTES;
  while (b < bytes) b *= SIZE_STEP;
  return b === bytes;
}

export class MpiRunner implements Runner {
  readonly name: string;
  readonly label: string;
  readonly kind = 'baseline';
  readonly compareWith: readonly string[] = [];
  readonly inQuick: boolean;
  readonly #transport: MpiTransport;

  constructor(transport: MpiTransport) {
    this.#transport = transport;
    // Open MPI's tcp BTL busy-polls sockets: seconds when the box is loaded, so full runs only.
    this.inQuick = transport === 'vader';
    this.name = `mpi-${transport}`;
    this.label = `Open MPI ${transport}`;
  }

  covers(w: Workload, quick: boolean): boolean {
    // Quick mode keeps the baselines at 2 ranks: oversubscribed busy-polling MPI ranks are slow on 2 cores.
    if (quick && w.ranks !== 2 && w.operation !== 'launch') return false;
    if (w.operation === 'launch') return this.#transport === 'vader';
    // 8 busy-polling TCP ranks on 2 cores measure the scheduler, not the transport, for over a minute.
    if (this.#transport === 'tcp' && w.ranks > MPI_TCP_MOST_RANKS) return false;
    if (w.dtype !== 'float64') return false;
    // mpi_msg_bench takes any sizes; mpi-baseline.sh measures the ladder.
    return w.operation === 'barrier' || isMessageOperation(w.operation) || onLadder(w.bytes);
  }

  async unavailable(): Promise<string | null> {
    if (!onPath('mpicc') || !onPath('mpirun')) return 'Open MPI (mpicc, mpirun) is not installed';
    return missingFile('mpi-baseline.sh');
  }

  async run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    const results: Result[] = [];
    for (const [ranks, group] of byRanks(workloads)) {
      const collectives = group.filter((w) => w.operation !== 'launch' && !isMessageOperation(w.operation));
      if (collectives.length > 0) results.push(...(await this.#collectives(ranks, collectives, context)));
      const messages = group.filter((w) => isMessageOperation(w.operation));
      if (messages.length > 0) {
        results.push(...(await this.#messages(ranks, messages, context)));
      }
      for (const w of group.filter((g) => g.operation === 'launch')) {
        results.push(await this.#launch(w, context));
      }
    }
    return results;
  }

  async #collectives(ranks: number, group: readonly Workload[], context: RunContext): Promise<Result[]> {
    const largest = Math.max(SMALLEST_BYTES, ...group.map((w) => w.bytes));
    context.log(`${this.name}: mpi-baseline.sh ${ranks} ${this.#transport} ${largest}`);
    const { stdout } = await runToCompletion('bash', [
      baselinePath('mpi-baseline.sh'),
      String(ranks),
      this.#transport,
      String(largest),
    ]);
    const lines = parseBaselineLines(stdout);
    const results: Result[] = [];
    for (const w of group) {
      const line = lines.find((l) => MPI_OPERATION_NAMES[l.op] === w.operation && l.bytes === w.bytes);
      if (line) results.push(medianOnly(this.name, w, line.medianUs));
    }
    return results;
  }

  /** A failed message run leaves its rows n/a, as a failed script does, and the collectives stand. */
  async #messages(ranks: number, group: readonly Workload[], context: RunContext): Promise<Result[]> {
    try {
      return await measureMpiMessages(this.name, this.#transport, ranks, group, context);
    } catch (error) {
      context.problem(this.name, `mpi_msg_bench: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    }
  }

  /** Wall time of `mpirun -n R true`, spawn to exit, once per batch after one untimed warm-up. */
  async #launch(w: Workload, context: RunContext): Promise<Result> {
    context.log(`${this.name}: mpirun -n ${w.ranks} true ×${w.batches}`);
    const args = ['--oversubscribe', '-n', String(w.ranks), 'true'];
    const env = { ...process.env, ...ROOT_ENV };
    for (let i = 0; i < w.warmup; i++) await runToCompletion('mpirun', args, env);
    const batches: number[] = [];
    for (let b = 0; b < w.batches; b++) {
      batches.push((await runToCompletion('mpirun', args, env)).elapsedMs * 1000);
    }
    return summarise(this.name, w, batches);
  }
}
