/**
 * The typed, validated result of selection: which backend, and everything it needs. Built once from
 * options + environment by the priority chain (chain.ts) and passed down; nothing below selection/
 * reads process.env.
 */
import type { CollectiveAlgorithm } from '../communicator/algorithms/policy.js';
import type { NodeLayout } from './launchers.js';

export const DEFAULT_TCP_PORT = 29500;
/** tcp's collective algorithm when none is named: direct from the size thresholds up (spec/backend-tcp.md §13). */
export const DEFAULT_TCP_ALGORITHM: CollectiveAlgorithm = 'auto';
/**
 * The fatal timeout: how long a collective may make no progress before every waiting rank gets Timeout.
 * Long on purpose (torch.distributed uses 30 min): it counts a peer's compute time between collectives.
 */
export const DEFAULT_TIMEOUT_SECS = 1800;
export { DEFAULT_STALL_WARNING_SECS } from '../communicator/errors.js';
/** Long enough for rank 0 to start on a loaded machine, short enough that a wrong address fails soon. */
export const DEFAULT_CONNECT_TIMEOUT_SECS = 30;
/** The coordinator address when every rank runs on this one node and none is named. */
export const LOOPBACK_HOST = '127.0.0.1';

export interface LocalConfig {
  readonly backend: 'local';
}

export interface ShmConfig {
  readonly backend: 'shm';
  /** The shm backend's ShmGroupHandle; validated by the backend when it connects. */
  readonly group: object;
  readonly rank: number;
  readonly timeoutSecs: number;
  /** Seconds without progress before a stall warning (repeated at that interval); 0: never. */
  readonly stallWarningSecs: number;
}

export interface TcpConfig {
  readonly backend: 'tcp';
  readonly rank: number;
  readonly size: number;
  /** Rank 0's host: where the others connect. */
  readonly host: string;
  readonly port: number;
  /** Where rank 0 listens when not `host` (e.g. 0.0.0.0). */
  readonly bindAddr?: string;
  readonly token?: string;
  readonly allowInsecure?: boolean;
  readonly timeoutSecs: number;
  /** Seconds without progress before a stall warning (repeated at that interval); 0: never. */
  readonly stallWarningSecs: number;
  readonly connectTimeoutSecs: number;
  /**
   * This job's identity, carried in the handshake so that a rank of another job is refused
   * (spec/selection.md §4.1); absent when nothing names one (then selection warns).
   */
  readonly jobId?: string;
  /** Where jobId came from: `options.jobId`, `COLLECTIVE_JOB_ID` or a launcher variable. */
  readonly jobIdSource?: string;
  /** Node layout as the launcher reported it; a single-node tcp world warns about nothing else. */
  readonly layout: NodeLayout;
  /** How allreduce, allgatherv and broadcast move their data (TcpOptions.algorithm); tcp only. */
  readonly algorithm: CollectiveAlgorithm;
}

export interface MpiConfig {
  readonly backend: 'mpi';
  readonly timeoutSecs: number;
  /** Seconds without progress before a stall warning (repeated at that interval); 0: never. */
  readonly stallWarningSecs: number;
  /** The launcher's rank and size when it names them: MPI must agree (checked at start). */
  readonly rank?: number;
  readonly size?: number;
}

/** The validated config of any backend: one member per row of the table (backends.ts). */
export type { BackendConfig } from './backends.js';

/** A working but poor choice, emitted once per process through process.emitWarning. */
export interface SelectionWarning {
  /** The warning's code, e.g. `COLLECTIVE_NO_JOB_ID` (spec/selection.md §7). */
  readonly code: string;
  /** The text emitted with it. */
  readonly message: string;
}
