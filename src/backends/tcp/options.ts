/**
 * TcpOptions and their validation (spec/backend-tcp.md §1, §6). Bad settings fail before any socket
 * is opened, with BackendError 'IncompatibleSettings' naming the field and what to pass instead.
 */
import type { Server } from 'node:net';
import {
  BackendError,
  DEFAULT_STALL_WARNING_SECS,
  STALL_WARNING_CODE,
  STALL_WARNING_TYPE,
} from '../../communicator/errors.js';
import { normaliseHost } from '../../communicator/host-address.js';
import { MAX_JOB_ID_BYTES } from '../star/handshake.js';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_SMALL_BYTES,
  MAX_CHUNK_BYTES,
  MAX_GROUP_SIZE,
} from '../star/protocol.js';
import type { StarSettings } from '../star/settings.js';

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
  /**
   * Contributions and results of at most this many bytes travel in one frame each way: the data in
   * the Begin, the result with its Go (spec/backend-tcp.md §2.5). An integer in [0, chunkBytes]; 0
   * sends every byte in data frames. Default 2048 (at most chunkBytes). Tests move it so that both
   * paths run on the same inputs.
   */
  smallBytes?: number;
}

export const WARNING_CODE = 'COLLECTIVE_TCP';

/** The star protocol's settings plus where rank 0 listens and workers dial (spec §1). */
export interface TcpSettings extends StarSettings {
  host: string;
  port: number;
  /** Where rank 0 listens: options.bindAddr, else host (IP literals in canonical spelling, §1.1). */
  bindAddr: string;
  /** options.bindAddr was given: only then may rank 0 listen on every interface. */
  explicitBind: boolean;
  allowInsecure: boolean;
  server: Server | null;
  onListening: (address: { host: string; port: number }) => void;
}

const MS_PER_SEC = 1000;

function incompatible(field: string, message: string, value: unknown, suggestion: string): BackendError {
  return new BackendError('IncompatibleSettings', `tcp: ${message}`, { field, value }, suggestion);
}

/** An IP literal in its canonical spelling (so `[::1]` connects), a name as given. */
function canonical(host: string): string {
  const normalised = normaliseHost(host);
  return normalised.family === 0 ? host : normalised.address;
}

/**
 * The coordinator and bind addresses (spec §1.1), classified after normalising: every spelling of
 * the unspecified address (`0`, `[::0]`, `::ffff:0.0.0.0`, …) is "all interfaces".
 */
function checkAddresses(rank: number, options: TcpOptions): { host: string; bindAddr: string } {
  if (typeof options.host !== 'string' || options.host === '') {
    throw incompatible(
      'host',
      'host must be the coordinator address',
      options.host,
      "pass '127.0.0.1' for one machine",
    );
  }
  if (options.bindAddr !== undefined && (typeof options.bindAddr !== 'string' || options.bindAddr === '')) {
    throw incompatible(
      'bindAddr',
      'bindAddr must be an address of this machine',
      options.bindAddr,
      "omit it to listen on host, or pass '0.0.0.0' to listen on all interfaces on purpose",
    );
  }
  const host = normaliseHost(options.host);
  if (host.scope === 'unspecified' && rank > 0) {
    throw incompatible(
      'host',
      `host '${options.host}' is the unspecified address (${host.address}), not an address to connect to`,
      options.host,
      "set COLLECTIVE_TCP_COORDINATOR (options.host) to rank 0's address on every rank",
    );
  }
  if (host.scope === 'unspecified' && options.bindAddr === undefined) {
    throw incompatible(
      'host',
      `host '${options.host}' is the unspecified address (${host.address}): rank 0 would listen on all interfaces`,
      options.host,
      "set COLLECTIVE_TCP_COORDINATOR (options.host) to rank 0's real address, and COLLECTIVE_TCP_BIND_ADDR=0.0.0.0 (options.bindAddr) only to listen on all interfaces on purpose",
    );
  }
  return {
    host: canonical(options.host),
    bindAddr: canonical(options.bindAddr ?? options.host),
  };
}

/**
 * Rank 0 listens beyond loopback only with a token or allowInsecure (spec §1.1). Checked on the
 * configured address before listening, and again on the address the socket really bound.
 */
export function checkListenScope(
  rank: number,
  bindAddr: string,
  guard: { token: string | null; allowInsecure: boolean },
): void {
  if (rank !== 0 || guard.token !== null || guard.allowInsecure) return;
  const { address, scope } = normaliseHost(bindAddr);
  if (scope === 'loopback') return;
  const where = scope === 'unspecified' ? `all interfaces (${address})` : `'${bindAddr}'`;
  throw incompatible(
    'token',
    `rank 0 would listen on ${where} without a token: any machine that reaches it could join`,
    bindAddr,
    'set COLLECTIVE_TCP_TOKEN (options.token) to the same secret on every rank, listen on 127.0.0.1 for one machine, or pass allowInsecure: true to opt out explicitly',
  );
}

/**
 * After listening: the address the socket really bound (server.address()), which also covers a name
 * that resolves to the unspecified address and a server adopted through options.server.
 */
export function checkBoundAddress(settings: TcpSettings, bound: string): void {
  if (normaliseHost(bound).scope === 'unspecified' && !settings.explicitBind && settings.server === null) {
    throw incompatible(
      'host',
      `host '${settings.host}' made rank 0 listen on all interfaces (${bound})`,
      settings.host,
      "set COLLECTIVE_TCP_COORDINATOR (options.host) to rank 0's real address, and COLLECTIVE_TCP_BIND_ADDR=0.0.0.0 (options.bindAddr) only to listen on all interfaces on purpose",
    );
  }
  checkListenScope(settings.rank, bound, settings);
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
  const { host, bindAddr } = checkAddresses(rank, options);
  const token = options.token === undefined || options.token === '' ? null : options.token;
  checkListenScope(rank, bindAddr, { token, allowInsecure: options.allowInsecure === true });
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
  const smallBytes = options.smallBytes ?? Math.min(DEFAULT_SMALL_BYTES, chunkBytes);
  if (!Number.isInteger(smallBytes) || smallBytes < 0 || smallBytes > chunkBytes) {
    throw incompatible(
      'smallBytes',
      `smallBytes must be an integer in [0, chunkBytes = ${chunkBytes}], got ${smallBytes}`,
      smallBytes,
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
    host,
    port,
    bindAddr,
    explicitBind: options.bindAddr !== undefined,
    allowInsecure: options.allowInsecure === true,
    token,
    jobId,
    timeoutMs: options.timeoutSecs * MS_PER_SEC,
    stallWarningMs: stallWarningSecs * MS_PER_SEC,
    connectTimeoutMs: options.connectTimeoutSecs * MS_PER_SEC,
    chunkBytes,
    smallBytes,
    server: options.server ?? null,
    onListening: options.onListening ?? ((): void => {}),
    warn,
    warnStall,
  };
}
