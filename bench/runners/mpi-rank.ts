/**
 * One rank of the `mpi` runner's world (mpi-native.ts): started by mpirun, configured by the JSON in
 * COLLECTIVE_BENCH_MPI (workloads, build, warm-up), reporting its timings as one JSON line on stdout.
 */
import { libraryModule } from '../harness/library.js';
import { describeFailure, RANK_TIMEOUT_SECS } from '../harness/rank-report.js';
import { measureOnRank } from '../harness/rank-loop.js';
import type { MpiRankConfig } from './mpi-native.js';

type MpiModule = typeof import('../../src/backends/mpi/index.js');

const config = JSON.parse(process.env['COLLECTIVE_BENCH_MPI'] ?? '{}') as MpiRankConfig;
try {
  const { connectMpi } = (await import(libraryModule(config.library, 'backends/mpi/index'))) as MpiModule;
  const comm = await connectMpi({ timeoutSecs: RANK_TIMEOUT_SECS });
  const timings = await measureOnRank(comm, config.workloads, config.worldWarmupMs);
  process.stdout.write(`${JSON.stringify({ kind: 'timings', rank: comm.rank, timings })}\n`);
  await comm.close();
} catch (error) {
  process.stdout.write(`${JSON.stringify({ kind: 'error', message: describeFailure(error) })}\n`);
}
