/**
 * What a caller of init() may say. Every option mirrors an environment variable (spec/selection.md §3)
 * and overrides it; `env` replaces process.env as the record the variables are read from.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { ShmGroupHandle } from '../backends/shm/index.js';
import type { KnownBackendName } from '../communicator/communicator.js';
import type { EnvRecord } from './values.js';

/**
 * What {@link InitOptions.backend} and `COLLECTIVE_BACKEND` may say: `'auto'` (the priority chain of
 * spec/selection.md §5.1 decides) or a backend to use, validated against the launch (§5.2).
 */
export type BackendChoice = 'auto' | KnownBackendName;

/**
 * What a caller of {@link init} may say (spec/selection.md §3). Every option mirrors an environment
 * variable and overrides it; all are optional. A malformed value is a {@link BackendError}
 * `IncompatibleSettings` naming `options.<name>` (an unknown `backend`: `InvalidBackend`). Times
 * are in seconds.
 */
export interface InitOptions {
  /** Overrides COLLECTIVE_BACKEND (default 'auto'). */
  backend?: BackendChoice;
  /**
   * Overrides COLLECTIVE_RANK and any launcher's rank: an integer in `[0, size)`. With `group`,
   * this thread's rank in the group.
   */
  rank?: number;
  /** Overrides COLLECTIVE_SIZE and any launcher's size: the number of ranks, an integer ≥ 1. */
  size?: number;
  /** Overrides COLLECTIVE_TCP_COORDINATOR: rank 0's 'host' or 'host:port'. */
  coordinator?: string;
  /** Overrides COLLECTIVE_TCP_PORT (default 29500): 1…65535, or 0 on rank 0 for a port the OS picks. */
  port?: number;
  /**
   * Overrides COLLECTIVE_TCP_BIND_ADDR: the address rank 0 listens on (no port), e.g. `0.0.0.0`;
   * default the coordinator host. A non-loopback address needs `token` (or `allowInsecure`).
   */
  bindAddr?: string;
  /** Overrides COLLECTIVE_TCP_TOKEN: a shared secret every rank presents to the coordinator. */
  token?: string;
  /**
   * tcp: overrides COLLECTIVE_TCP_ALGORITHM (default 'auto'): how allreduce, allgatherv and broadcast
   * move their data (spec/backend-tcp.md §13) — `'star'` through rank 0, `'direct'` between every two
   * ranks, `'auto'` direct from the size thresholds up. The same on every rank. ws ignores it.
   */
  algorithm?: 'star' | 'direct' | 'auto';
  /**
   * Lets rank 0 listen on a non-loopback address without a token. Deliberately an option only, with no
   * variable: opting out of authentication should be visible in the program, not in a shell profile.
   */
  allowInsecure?: boolean;
  /**
   * Overrides COLLECTIVE_TIMEOUT_SECS (default 1800): the fatal timeout — a collective that makes no
   * progress this long rejects with Timeout on every waiting rank.
   */
  timeoutSecs?: number;
  /**
   * Overrides COLLECTIVE_STALL_WARNING_SECS (default 60): after this long without progress every waiting
   * rank warns (CollectiveWarning COLLECTIVE_STALL), and again at each further interval; 0 disables it.
   */
  stallWarningSecs?: number;
  /**
   * Overrides COLLECTIVE_JOB_ID and the launcher's job identity: the same on every rank of one job and
   * different for every job, so that a rank of another job on the same host and port is refused.
   */
  jobId?: string;
  /**
   * Overrides COLLECTIVE_CONNECT_TIMEOUT_SECS (default 30): how long, in seconds, the tcp group may
   * take to form before init() rejects with `InitializationFailed`.
   */
  connectTimeoutSecs?: number;
  /**
   * A shared-memory group handle (the shm backend's ShmGroupHandle) for users who manage their own
   * worker threads; pass `rank` with it. Threads started by `collective run` need neither.
   */
  group?: ShmGroupHandle;
  /**
   * ws, ranks ≥ 1: overrides COLLECTIVE_WS_URL: rank 0's WebSocket URL (`ws://host:port/path` or
   * `wss://…`). Default: `ws://` + the coordinator host and port.
   */
  url?: string;
  /**
   * ws, rank 0: serve on this `http.Server`/`https.Server` at `path` instead of listening on the
   * coordinator address (spec/backend-ws.md §9.2). Its listening address falls under the same
   * token rule as the coordinator's.
   */
  server?: HttpServer | HttpsServer;
  /** ws, rank 0: the only path served (default: every path standalone, `/collective` on `server`). */
  path?: string;
  /**
   * ws, rank 0: the origins (`https://host:port`) whose pages may join as browser ranks; `'*'`
   * allows any page. Default: none. Node ranks send no Origin and are always let in.
   */
  allowedOrigins?: readonly string[];
  /** The environment to read instead of process.env (tests, embedding). */
  env?: EnvRecord;
}
