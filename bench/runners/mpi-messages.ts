/**
 * Open MPI's point-to-point and personalised messages, the reference for the ping-pong and alltoall
 * workloads: bench/baselines/mpi_msg_bench.c (MPI_Send/MPI_Recv ping-pong, MPI_Alltoall), compiled with
 * mpicc on first use and run by mpirun with the BTL flags of ../shared/baselines/mpi-baseline.sh.
 */
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunContext } from '../harness/runner.js';
import { medianOnly } from '../harness/stats.js';
import type { Result, Workload } from '../harness/workload.js';
import { parseBaselineLines, runToCompletion } from './baseline-process.js';
import type { MpiTransport } from './mpi.js';

/** The program's source, in this repository (the shared baselines hold the collectives only). */
export const MPI_MSG_SOURCE = fileURLToPath(new URL('../baselines/mpi_msg_bench.c', import.meta.url));
const MPI_MSG_BINARY = join(tmpdir(), 'collective-mpi_msg_bench');

/** The operations it measures, by the name it prints. */
const MESSAGE_OPERATIONS: readonly Workload['operation'][] = ['pingpong', 'alltoall'];

export const ROOT_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };

export function isMessageOperation(operation: Workload['operation']): boolean {
  return MESSAGE_OPERATIONS.includes(operation);
}

function modifiedMs(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** Compiles the program unless the binary is newer than the source. */
async function built(context: RunContext): Promise<string> {
  const binary = modifiedMs(MPI_MSG_BINARY);
  if (binary === null || binary < (modifiedMs(MPI_MSG_SOURCE) ?? Infinity)) {
    context.log(`mpicc -O2 -o ${MPI_MSG_BINARY} ${MPI_MSG_SOURCE}`);
    await runToCompletion('mpicc', ['-O2', '-o', MPI_MSG_BINARY, MPI_MSG_SOURCE]);
  }
  return MPI_MSG_BINARY;
}

/** One mpirun per operation at this rank count, every size of the group in one go. */
export async function measureMpiMessages(
  runner: string,
  transport: MpiTransport,
  ranks: number,
  group: readonly Workload[],
  context: RunContext,
): Promise<Result[]> {
  const binary = await built(context);
  const btl = ['--mca', 'btl', `self,${transport}`];
  if (transport === 'tcp') btl.push('--mca', 'btl_tcp_if_include', 'lo');
  const results: Result[] = [];
  for (const operation of MESSAGE_OPERATIONS) {
    const workloads = group.filter((w) => w.operation === operation);
    if (workloads.length === 0) continue;
    const sizes = workloads.map((w) => String(w.bytes));
    context.log(`${runner}: mpi_msg_bench ${operation} ${sizes.join(' ')} at ${ranks} ranks`);
    const args = ['--oversubscribe', '-n', String(ranks), ...btl, binary, operation, ...sizes];
    const { stdout } = await runToCompletion('mpirun', args, { ...process.env, ...ROOT_ENV });
    const lines = parseBaselineLines(stdout);
    for (const w of workloads) {
      const line = lines.find((l) => l.op === operation && l.bytes === w.bytes);
      if (line) results.push(medianOnly(runner, w, line.medianUs));
    }
  }
  return results;
}
