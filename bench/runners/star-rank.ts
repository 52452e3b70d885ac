/**
 * One rank of a star-protocol benchmark world (tcp or ws; a child process started by TcpRunner or
 * WsRunner), configured over IPC. Both backends take the same options here: rank 0 listens on an
 * ephemeral port of 127.0.0.1, the others dial it.
 */
import { libraryModule, type LibrarySource } from '../harness/library.js';
import { describeFailure, RANK_TIMEOUT_SECS, type RankReport } from '../harness/rank-report.js';
import { measureOnRank } from '../harness/rank-loop.js';
import type { Workload } from '../harness/workload.js';

/** The star backends a StarRankConfig can start. */
export type StarBackend = 'tcp' | 'ws';

export interface StarRankConfig {
  readonly backend: StarBackend;
  readonly rank: number;
  readonly size: number;
  /** Rank 0: 0 (ephemeral); others: rank 0's port. */
  readonly port: number;
  readonly workloads: readonly Workload[];
  readonly library: LibrarySource;
  readonly worldWarmupMs: number;
  /** tcp: TcpOptions.algorithm ('star' | 'direct' | 'auto'); absent, the backend's default. */
  readonly algorithm?: 'star' | 'direct' | 'auto';
}

type TcpModule = typeof import('../../src/backends/tcp/index.js');
type WsModule = typeof import('../../src/backends/ws/index.js');
type Communicator = Awaited<ReturnType<TcpModule['connectTcp']>>;

const LOOPBACK = '127.0.0.1';
/** Ranks ≥ 1 start only once rank 0 listens; this covers a loaded 2-core box starting 8 processes. */
const CONNECT_TIMEOUT_SECS = 60;

function report(message: RankReport): void {
  process.send?.(message);
}

async function connect(config: StarRankConfig): Promise<Communicator> {
  const options = {
    rank: config.rank,
    size: config.size,
    host: LOOPBACK,
    port: config.port,
    timeoutSecs: RANK_TIMEOUT_SECS,
    connectTimeoutSecs: CONNECT_TIMEOUT_SECS,
    onListening: ({ port }: { port: number }) => report({ kind: 'listening', rank: config.rank, port }),
  };
  if (config.backend === 'ws') {
    const { connectWs } = (await import(libraryModule(config.library, 'backends/ws/index'))) as WsModule;
    return connectWs(options);
  }
  const { connectTcp } = (await import(libraryModule(config.library, 'backends/tcp/index'))) as TcpModule;
  return connectTcp(config.algorithm ? { ...options, algorithm: config.algorithm } : options);
}

async function main(config: StarRankConfig): Promise<void> {
  const comm = await connect(config);
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

process.once('message', (message: { kind: string; config: StarRankConfig }) => {
  const { backend, rank } = message.config;
  main(message.config)
    .catch((error: unknown) => {
      process.stderr.write(`[${backend} rank ${rank}] ${describeFailure(error)}\n`);
      report({ kind: 'error', rank, message: describeFailure(error) });
    })
    .finally(() => process.disconnect?.());
});
