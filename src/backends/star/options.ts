/**
 * The options every star transport shares, and their validation (spec/backend-tcp.md §1, §6;
 * spec/backend-ws.md §9): token, job id, the clocks, the chunk size and the warning hooks. Each
 * error is a BackendError 'IncompatibleSettings' whose message starts with the backend's name
 * (`tcp: …`, `ws: …`), naming the field and what to pass instead. Browser-safe: no `node:` import
 * (a browser rank validates its options with it), so the address rules live in listen-address.ts.
 */
import {
  BackendError,
  DEFAULT_STALL_WARNING_SECS,
  STALL_WARNING_CODE,
  STALL_WARNING_TYPE,
} from '../../communicator/errors.js';
import { MAX_JOB_ID_BYTES } from '../../communicator/job-id.js';
import { emitWarning } from '../../communicator/platform.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_SMALL_BYTES, MAX_CHUNK_BYTES, MAX_GROUP_SIZE } from './protocol.js';
import type { StarSettings } from './settings.js';

/** The name a star transport reports as `comm.backend`, and prefixes its errors with. */
export type StarBackendName = 'tcp' | 'ws';

/** The options of the star protocol itself, whatever carries it (TcpOptions, WsOptions extend it). */
export interface StarOptions {
  rank: number;
  size: number;
  /** HMAC-SHA256 challenge–response when set; the token never crosses the wire. */
  token?: string;
  /**
   * The launcher's job identity (PMIX_NAMESPACE, SLURM_JOB_ID.SLURM_STEP_ID, TORCHELASTIC_RUN_ID,
   * COLLECTIVE_JOB_ID, …), at most 128 UTF-8 bytes. Sent in the handshake even without a token:
   * rank 0 refuses a rank whose job id differs from its own (absent on one side only included).
   */
  jobId?: string;
  /** The fatal timeout: no progress in a collective for this long → Timeout on every waiting rank. */
  timeoutSecs: number;
  /**
   * The stall warning: after this long without progress every waiting rank warns, naming the ranks
   * not arrived, and again every stallWarningSecs while still stalled. 0 disables. Default 60.
   */
  stallWarningSecs?: number;
  /** Ranks ≥ 1: retry connecting with backoff until this; rank 0: wait this long for all ranks. */
  connectTimeoutSecs: number;
  /**
   * Rejected connections and other backend warnings — and stall warnings when onStallWarning is not
   * given. Default: emitWarning(message, { code }) with the backend's code (COLLECTIVE_TCP, COLLECTIVE_WS).
   */
  onWarning?: (message: string) => void;
  /**
   * Stall warnings (spec/backend-tcp.md §7.2). Default: onWarning if given, else
   * emitWarning(message, { type: 'CollectiveWarning', code: 'COLLECTIVE_STALL' }).
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

/** What the common checks need to know about the backend validating them. */
export interface StarOptionsContext {
  backend: StarBackendName;
  /** The code of the backend's default warnings (COLLECTIVE_TCP, COLLECTIVE_WS). */
  warningCode: string;
  /** What to do about a job id that is too long (default: set COLLECTIVE_JOB_ID to a short name). */
  jobIdAdvice?: string;
}

const MS_PER_SEC = 1000;
/** The examples the clock errors suggest (s). */
const EXAMPLE_TIMEOUT_SECS = 60;
const EXAMPLE_CONNECT_TIMEOUT_SECS = 30;
/** The smallest data frame (bytes): one float64. */
const MIN_CHUNK_BYTES = 8;

/** BackendError 'IncompatibleSettings', its message prefixed with the backend's name. */
export function incompatible(
  backend: StarBackendName,
  field: string,
  message: string,
  value: unknown,
  suggestion: string,
): BackendError {
  return new BackendError('IncompatibleSettings', `${backend}: ${message}`, { field, value }, suggestion);
}

/** The options are an object at all; `shape` is what to pass, e.g. `{ rank, size, host, port, … }`. */
export function checkOptionsObject(backend: StarBackendName, options: unknown, shape: string): void {
  if (options === null || typeof options !== 'object') {
    throw incompatible(backend, 'options', 'options must be an object', options, `pass ${shape}`);
  }
}

/** `0 ≤ rank < size ≤ MAX_GROUP_SIZE`, both integers (a process rank; a browser rank has its own rule). */
export function checkGroup(backend: StarBackendName, rank: number, size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > MAX_GROUP_SIZE) {
    throw incompatible(
      backend,
      'size',
      `size must be an integer in [1, ${MAX_GROUP_SIZE}], got ${size}`,
      size,
      'set WORLD_SIZE to the number of ranks',
    );
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
    throw incompatible(
      backend,
      'rank',
      `rank must be an integer in [0, ${size}), got ${rank}`,
      rank,
      'give each process a distinct RANK below WORLD_SIZE',
    );
  }
}

/** The number of bytes `text` takes in UTF-8 (TextEncoder: no Buffer on the browser path). */
function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/** timeoutSecs and connectTimeoutSecs: positive and finite. */
function checkClocks(backend: StarBackendName, options: StarOptions): void {
  for (const field of ['timeoutSecs', 'connectTimeoutSecs'] as const) {
    const v = options[field];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      throw incompatible(
        backend,
        field,
        `${field} must be a positive number of seconds, got ${v}`,
        v,
        `pass e.g. ${field === 'timeoutSecs' ? EXAMPLE_TIMEOUT_SECS : EXAMPLE_CONNECT_TIMEOUT_SECS}`,
      );
    }
  }
}

function checkStallWarningSecs(backend: StarBackendName, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw incompatible(
      backend,
      'stallWarningSecs',
      `stallWarningSecs must be a number of seconds ≥ 0 (0 disables the warning), got ${value}`,
      value,
      `pass e.g. ${DEFAULT_STALL_WARNING_SECS}, or 0 for no stall warnings`,
    );
  }
  return value;
}

function checkChunkBytes(backend: StarBackendName, chunkBytes: unknown): number {
  if (
    typeof chunkBytes !== 'number' ||
    !Number.isInteger(chunkBytes) ||
    chunkBytes < MIN_CHUNK_BYTES ||
    chunkBytes % MIN_CHUNK_BYTES !== 0 ||
    chunkBytes > MAX_CHUNK_BYTES
  ) {
    throw incompatible(
      backend,
      'chunkBytes',
      `chunkBytes must be a multiple of 8 in [8, ${MAX_CHUNK_BYTES}], got ${chunkBytes}`,
      chunkBytes,
      'omit it for the default',
    );
  }
  return chunkBytes;
}

function checkSmallBytes(backend: StarBackendName, smallBytes: unknown, chunkBytes: number): number {
  if (
    typeof smallBytes !== 'number' ||
    !Number.isInteger(smallBytes) ||
    smallBytes < 0 ||
    smallBytes > chunkBytes
  ) {
    throw incompatible(
      backend,
      'smallBytes',
      `smallBytes must be an integer in [0, chunkBytes = ${chunkBytes}], got ${smallBytes}`,
      smallBytes,
      'omit it for the default',
    );
  }
  return smallBytes;
}

function checkToken(backend: StarBackendName, token: unknown): string | null {
  if (token === undefined || token === '') return null;
  if (typeof token !== 'string') {
    throw incompatible(
      backend,
      'token',
      'token must be a string',
      typeof token,
      'pass the same secret on every rank, or omit it',
    );
  }
  return token;
}

function checkJobId(context: StarOptionsContext, jobId: unknown): string | null {
  if (jobId === undefined || jobId === '') return null;
  if (typeof jobId !== 'string' || utf8Bytes(jobId) > MAX_JOB_ID_BYTES) {
    throw incompatible(
      context.backend,
      'jobId',
      `jobId must be a string of at most ${MAX_JOB_ID_BYTES} UTF-8 bytes`,
      jobId,
      context.jobIdAdvice ?? 'set COLLECTIVE_JOB_ID to a short name for this job',
    );
  }
  return jobId;
}

/**
 * The star settings of already-checked `rank`/`size` (checkGroup, or a browser rank's own rule):
 * token, job id, clocks (s → ms), chunk size, small-message size and the warning hooks, checked in that order after the
 * clocks. Throws BackendError 'IncompatibleSettings' `${backend}: …` naming the field.
 */
export function resolveStarOptions(context: StarOptionsContext, options: StarOptions): StarSettings {
  const { backend, warningCode } = context;
  checkClocks(backend, options);
  const stallWarningSecs = checkStallWarningSecs(
    backend,
    options.stallWarningSecs ?? DEFAULT_STALL_WARNING_SECS,
  );
  const token = checkToken(backend, options.token);
  const jobId = checkJobId(context, options.jobId);
  const chunkBytes = checkChunkBytes(backend, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const smallBytes = checkSmallBytes(
    backend,
    options.smallBytes ?? Math.min(DEFAULT_SMALL_BYTES, chunkBytes),
    chunkBytes,
  );
  const warn = options.onWarning ?? ((message: string): void => emitWarning(message, { code: warningCode }));
  const warnStall =
    options.onStallWarning ??
    options.onWarning ??
    ((message: string): void => emitWarning(message, { type: STALL_WARNING_TYPE, code: STALL_WARNING_CODE }));
  return {
    backendName: backend,
    rank: options.rank,
    size: options.size,
    token,
    jobId,
    timeoutMs: options.timeoutSecs * MS_PER_SEC,
    stallWarningMs: stallWarningSecs * MS_PER_SEC,
    connectTimeoutMs: options.connectTimeoutSecs * MS_PER_SEC,
    chunkBytes,
    smallBytes,
    warn,
    warnStall,
  };
}
