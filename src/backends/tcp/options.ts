/**
 * TcpOptions and their validation (spec/backend-tcp.md §1, §6). Bad settings fail before any socket
 * is opened, with BackendError 'IncompatibleSettings' naming the field and what to pass instead.
 */
import type { Server } from 'node:net';
import { isIP } from 'node:net';
import {
  BackendError,
  DEFAULT_STALL_WARNING_SECS,
  STALL_WARNING_CODE,
  STALL_WARNING_TYPE,
} from '../../communicator/errors.js';
import { MAX_JOB_ID_BYTES } from './handshake.js';
import { DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, MAX_GROUP_SIZE } from './protocol.js';

export interface TcpOptions {
  rank: number;
  size: number;
  /** Coordinator address; rank 0 binds it (or bindAddr). */
  host: string;
  /** Rank 0: 0 = ephemeral (reported through onListening). Ranks ≥ 1: the coordinator's port. */
  port: number;
  /** Rank 0 only: where to listen (explicit; a wildcard only when the user says so). */
  bindAddr?: string;
  /** HMAC-SHA256 challenge–response when set; the token never crosses the wire. */
  token?: string;
  /**
   * The launcher's job identity (PMIX_NAMESPACE, SLURM_JOB_ID.SLURM_STEP_ID, TORCHELASTIC_RUN_ID,
   * COLLECTIVE_JOB_ID, …), at most 128 UTF-8 bytes. Sent in the handshake even without a token:
   * rank 0 refuses a rank whose job id differs from its own (absent on one side only included).
   */
  jobId?: string;
  /** Explicit opt-out: listen on a non-loopback address without a token. */
  allowInsecure?: boolean;
  /** The fatal timeout: no progress in a collective for this long → Timeout on every waiting rank. */
  timeoutSecs: number;
  /**
   * The stall warning: after this long without progress every waiting rank warns, naming the ranks
   * not arrived, and again every stallWarningSecs while still stalled. 0 disables. Default 60.
   */
  stallWarningSecs?: number;
  /** Ranks ≥ 1: retry connecting with backoff until this; rank 0: wait this long for all ranks. */
  connectTimeoutSecs: number;
  /** Rank 0: adopt an already-listening server (e.g. passed by a parent via an IPC handle). */
  server?: Server;
  /** Rank 0: called once listening, before peers join. */
  onListening?: (address: { host: string; port: number }) => void;
  /**
   * Rejected connections and other backend warnings — and stall warnings when onStallWarning is not
   * given. Default: process.emitWarning(message, { code: 'COLLECTIVE_TCP' }).
   */
  onWarning?: (message: string) => void;
  /**
   * Stall warnings (spec §7.2). Default: onWarning if given, else process.emitWarning(message,
   * { type: 'CollectiveWarning', code: 'COLLECTIVE_STALL' }).
   */
  onStallWarning?: (message: string) => void;
  /** Bytes per data frame (a multiple of 8, at most 4 MiB). Tests lower it to walk the streaming path. */
  chunkBytes?: number;
}

export const WARNING_CODE = 'COLLECTIVE_TCP';

export interface TcpSettings {
  rank: number;
  size: number;
  host: string;
  port: number;
  bindAddr: string;
  token: string | null;
  jobId: string | null;
  timeoutMs: number;
  /** 0: no stall warnings. */
  stallWarningMs: number;
  connectTimeoutMs: number;
  chunkBytes: number;
  server: Server | null;
  onListening: (address: { host: string; port: number }) => void;
  warn: (message: string) => void;
  warnStall: (message: string) => void;
}

const MS_PER_SEC = 1000;

function incompatible(field: string, message: string, value: unknown, suggestion: string): BackendError {
  return new BackendError('IncompatibleSettings', `tcp: ${message}`, { field, value }, suggestion);
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

export function resolveTcpOptions(options: TcpOptions): TcpSettings {
  if (options === null || typeof options !== 'object') {
    throw incompatible('options', 'options must be an object', options, 'pass { rank, size, host, port, … }');
  }
  const { rank, size, port } = options;
  if (!Number.isInteger(size) || size < 1 || size > MAX_GROUP_SIZE) {
    throw incompatible(
      'size',
      `size must be an integer in [1, ${MAX_GROUP_SIZE}], got ${size}`,
      size,
      'set WORLD_SIZE to the number of ranks',
    );
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
    throw incompatible(
      'rank',
      `rank must be an integer in [0, ${size}), got ${rank}`,
      rank,
      'give each process a distinct RANK below WORLD_SIZE',
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535 || (rank > 0 && port === 0)) {
    throw incompatible(
      'port',
      `port must be an integer in [${rank > 0 ? 1 : 0}, 65535], got ${port}`,
      port,
      rank > 0
        ? "pass the coordinator's real port (rank 0 reports it through onListening)"
        : 'pass 0 for an ephemeral port',
    );
  }
  for (const field of ['timeoutSecs', 'connectTimeoutSecs'] as const) {
    const v = options[field];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      throw incompatible(
        field,
        `${field} must be a positive number of seconds, got ${v}`,
        v,
        `pass e.g. ${field === 'timeoutSecs' ? 60 : 30}`,
      );
    }
  }
  const stallWarningSecs = options.stallWarningSecs ?? DEFAULT_STALL_WARNING_SECS;
  if (
    typeof stallWarningSecs !== 'number' ||
    !(stallWarningSecs >= 0) ||
    !Number.isFinite(stallWarningSecs)
  ) {
    throw incompatible(
      'stallWarningSecs',
      `stallWarningSecs must be a number of seconds ≥ 0 (0 disables the warning), got ${stallWarningSecs}`,
      stallWarningSecs,
      `pass e.g. ${DEFAULT_STALL_WARNING_SECS}, or 0 for no stall warnings`,
    );
  }
  if (typeof options.host !== 'string' || options.host === '') {
    throw incompatible(
      'host',
      'host must be the coordinator address',
      options.host,
      "pass '127.0.0.1' for one machine",
    );
  }
  if (rank > 0 && isWildcard(options.host)) {
    throw incompatible(
      'host',
      `host ${options.host} is a wildcard, not an address to connect to`,
      options.host,
      "pass rank 0's address",
    );
  }
  const bindAddr = options.bindAddr ?? options.host;
  if (options.bindAddr === undefined && isWildcard(options.host)) {
    throw incompatible(
      'host',
      `host ${options.host} would listen on all interfaces`,
      options.host,
      'pass bindAddr explicitly to listen on all interfaces, or a concrete address as host',
    );
  }
  const token = options.token === undefined || options.token === '' ? null : options.token;
  if (rank === 0 && !isLoopback(bindAddr) && token === null && options.allowInsecure !== true) {
    throw incompatible(
      'token',
      `rank 0 would listen on ${isWildcard(bindAddr) ? 'all interfaces' : bindAddr} without a token: any machine that reaches it could join`,
      bindAddr,
      'set COLLECTIVE_TCP_TOKEN (or options.token) on every rank, or pass allowInsecure: true to opt out explicitly',
    );
  }
  const jobId = options.jobId === undefined || options.jobId === '' ? null : options.jobId;
  if (jobId !== null && (typeof jobId !== 'string' || Buffer.byteLength(jobId, 'utf8') > MAX_JOB_ID_BYTES)) {
    throw incompatible(
      'jobId',
      `jobId must be a string of at most ${MAX_JOB_ID_BYTES} UTF-8 bytes`,
      jobId,
      'set COLLECTIVE_JOB_ID to a short name for this job',
    );
  }
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (
    !Number.isInteger(chunkBytes) ||
    chunkBytes < 8 ||
    chunkBytes % 8 !== 0 ||
    chunkBytes > MAX_CHUNK_BYTES
  ) {
    throw incompatible(
      'chunkBytes',
      `chunkBytes must be a multiple of 8 in [8, ${MAX_CHUNK_BYTES}], got ${chunkBytes}`,
      chunkBytes,
      'omit it for the default',
    );
  }
  const warn =
    options.onWarning ?? ((message: string): void => process.emitWarning(message, { code: WARNING_CODE }));
  const warnStall =
    options.onStallWarning ??
    options.onWarning ??
    ((message: string): void =>
      process.emitWarning(message, { type: STALL_WARNING_TYPE, code: STALL_WARNING_CODE }));
  return {
    rank,
    size,
    host: options.host,
    port,
    bindAddr,
    token,
    jobId,
    timeoutMs: options.timeoutSecs * MS_PER_SEC,
    stallWarningMs: stallWarningSecs * MS_PER_SEC,
    connectTimeoutMs: options.connectTimeoutSecs * MS_PER_SEC,
    chunkBytes,
    server: options.server ?? null,
    onListening: options.onListening ?? ((): void => {}),
    warn,
    warnStall,
  };
}
