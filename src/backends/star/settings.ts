/**
 * What the star protocol needs to know, whatever the link (spec/backend-tcp.md §1, §6): the group,
 * the token and job id of the handshake, the clocks and the warning hooks. Each transport validates
 * its own options and extends this with its addresses (TcpSettings, …).
 */
import type { AlgorithmPolicy } from '../../communicator/algorithms/policy.js';
import type { StarBackendName } from './options.js';

export interface StarSettings {
  /** The backend's name as `comm.backend` reports it and messages name it (`tcp`, `ws`); default `tcp`. */
  backendName?: StarBackendName;
  rank: number;
  size: number;
  /** HMAC-SHA256 challenge–response (§3.1) when set; null: no token. */
  token: string | null;
  /** The launcher's job identity (§3.4), at most MAX_JOB_ID_BYTES UTF-8 bytes; null: none. */
  jobId: string | null;
  /** The fatal timeout: no progress in a collective for this long (ms). */
  timeoutMs: number;
  /** The stall warning period (ms); 0: no stall warnings. */
  stallWarningMs: number;
  /** Ranks ≥ 1: keep dialling this long (ms); rank 0: wait this long for every rank. */
  connectTimeoutMs: number;
  /** Bytes per data frame (a multiple of 8, at most MAX_CHUNK_BYTES). */
  chunkBytes: number;
  /**
   * Version 4's small path (§2.5): a contribution of at most this many bytes rides in its Begin, a
   * worker's result of at most this many bytes comes in one Result frame that is also the Go. At most
   * chunkBytes; 0 turns the small path off. resolveStarOptions sets it (default min(DEFAULT_SMALL_BYTES, chunkBytes)), the one place its default lives.
   */
  smallBytes: number;
  /** Rejected connections and other backend warnings. */
  warn: (message: string) => void;
  /** Stall warnings (§7.2). */
  warnStall: (message: string) => void;
  /**
   * Rank 0: connections held in the handshake at once (§3.5); a new one past this evicts the
   * oldest. Default MAX_PENDING_HANDSHAKES (64); a transport that buffers more per unauthenticated
   * connection sets fewer (ws: WS_MAX_PENDING_HANDSHAKES).
   */
  maxPendingHandshakes?: number;
  /**
   * Which algorithm moves allreduce, allgatherv and broadcast (§13); absent or null: the star's
   * rounds always (ws). Every rank of the group holds the same policy (checked at formation).
   */
  algorithms?: AlgorithmPolicy | null;
}

/** The backend's name for `comm.backend` and for every message the star writes: backendName, else 'tcp'. */
export function backendOf(settings: Pick<StarSettings, 'backendName'>): StarBackendName {
  return settings.backendName ?? 'tcp';
}
