/** One tcp rank of a benchmark world (a child process started by TcpRunner); configured over IPC. */
import { libraryModule, type LibrarySource } from '../harness/library.js';
import { describeFailure, RANK_TIMEOUT_SECS, type RankReport } from '../harness/rank-report.js';
import { measureOnRank } from '../harness/rank-loop.js';
import type { Workload } from '../harness/workload.js';

export interface TcpRankConfig {
  readonly rank: number;
  readonly size: number;
  /** Rank 0: 0 (ephemeral); others: rank 0's port. */
  readonly port: number;
  readonly workloads: readonly Workload[];
  readonly library: LibrarySource;
  readonly worldWarmupMs: number;
}

type TcpModule = typeof import('../../src/backends/tcp/index.js');

const LOOPBACK = '127.0.0.1';
/** Ranks ≥ 1 start only once rank 0 listens; this covers a loaded 2-core box starting 8 processes. */
const CONNECT_TIMEOUT_SECS = 60;

function report(message: RankReport): void {
  process.send?.(message);
}

async function main(config: TcpRankConfig): Promise<void> {
  const { connectTcp } = (await import(libraryModule(config.library, 'backends/tcp/index'))) as TcpModule;
  const comm = await connectTcp({
    rank: config.rank,
    size: config.size,
    host: LOOPBACK,
    port: config.port,
    timeoutSecs: RANK_TIMEOUT_SECS,
    connectTimeoutSecs: CONNECT_TIMEOUT_SECS,
    onListening: ({ port }) => report({ kind: 'listening', rank: config.rank, port }),
  });
  try {
    report({
      kind: 'timings',
      rank: config.rank,
      timings: await measureOnRank(comm, config.workloads, config.worldWarmupMs),
    });
  } finally {
    await comm.close();
  }
}

process.once('message', (message: { kind: string; config: TcpRankConfig }) => {
  main(message.config)
    .catch((error: unknown) => {
      process.stderr.write(`[tcp rank ${message.config.rank}] ${describeFailure(error)}\n`);
      report({ kind: 'error', rank: message.config.rank, message: describeFailure(error) });
    })
    .finally(() => process.disconnect?.());
});
