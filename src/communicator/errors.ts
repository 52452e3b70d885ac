/**
 * Every error `collective` raises. One table of codes lives in spec/communicator.md §7;
 * keep the two in step.
 */

/**
 * The name of each error class, under a key every copy of this package shares (Symbol.for), so that
 * `instanceof` holds across copies (spec/train.md §8.3). A process can hold two: tsx compiles the ES
 * modules a CommonJS program require()s into a copy of its own, and a .ts worker module that train()
 * imports through tsx's tsImport() gets one too, while the communicator it is handed comes from the
 * copy that train() loaded.
 */
const CLASS_KEY: unique symbol = Symbol.for('collective.errorClass') as never;

function classKeyOf(value: unknown): unknown {
  return Object.hasOwn(value as object, CLASS_KEY)
    ? (value as Record<symbol, unknown>)[CLASS_KEY]
    : undefined;
}

/**
 * Base class of every error this library raises: `catch (e) { if (e instanceof CollectiveError) … }`
 * catches {@link CommError}, {@link BackendError} and {@link WorkerError} (spec/communicator.md §7).
 */
export class CollectiveError extends Error {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static readonly [CLASS_KEY]: string = 'CollectiveError';
  /** The class name, for logs and for errors rebuilt after crossing a thread or process boundary. */
  override name = 'CollectiveError';

  /**
   * `value instanceof CommError` (and the other classes): true for an instance of this class made by
   * this copy of the package or by another one loaded in the same process (spec/train.md §8.3).
   *
   * @param value - anything; false for primitives and null.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    const key = classKeyOf(this);
    // A user's subclass has no key of its own: ordinary instanceof.
    if (key === undefined) return Function.prototype[Symbol.hasInstance].call(this, value);
    if (typeof value !== 'object' || value === null) return false;
    for (let p: unknown = Object.getPrototypeOf(value); p !== null; p = Object.getPrototypeOf(p)) {
      const constructor = (p as { constructor?: unknown }).constructor;
      if (constructor === this || (typeof constructor === 'function' && classKeyOf(constructor) === key)) {
        return true;
      }
    }
    return false;
  }
}

/**
 * The stable codes of {@link CommError} (spec/communicator.md §7, one table with what to do):
 *
 * - `InvalidBufferSize`: a `recv` of the wrong length, or `counts[rank] !== send.length`.
 * - `InvalidRoot`: a root that is not an integer in `[0, size)`.
 * - `InvalidArgument`: not a numeric typed array, a detached buffer, recv partly overlapping send,
 *   an unknown op, bad counts/displs, a recv of another dtype, a value that cannot travel.
 * - `CollectiveMismatch`: the ranks called different collectives, or disagree on dtype, count, op,
 *   root or layout.
 * - `CollectiveFailed`: a peer died, disconnected or closed (`details.rank`); create a new
 *   communicator.
 * - `Timeout`: no progress for the fatal timeout (`COLLECTIVE_TIMEOUT_SECS`, default 1800 s);
 *   `details.missing` lists the ranks that never arrived. Also `train()`'s `timeoutMs`.
 * - `InvalidCommunicator`: the communicator is closed.
 * - `AllocationFailed`: a result or region larger than memory allows.
 *
 * Bad arguments on one rank make every rank reject with the same code (§6.2).
 */
export type CommErrorCode =
  | 'InvalidBufferSize'
  | 'InvalidRoot'
  | 'InvalidArgument'
  | 'CollectiveMismatch'
  | 'CollectiveFailed'
  | 'Timeout'
  | 'InvalidCommunicator'
  | 'AllocationFailed';

export const COMM_ERROR_CODES: readonly CommErrorCode[] = [
  'InvalidBufferSize',
  'InvalidRoot',
  'InvalidArgument',
  'CollectiveMismatch',
  'CollectiveFailed',
  'Timeout',
  'InvalidCommunicator',
  'AllocationFailed',
];

/**
 * A collective operation failed or was called wrongly (spec/communicator.md §7). The message starts
 * with the operation and ends with what to do; branch on {@link code}, not on the message.
 *
 * @example
 * ```ts
 * import { CommError } from 'collective';
 *
 * try {
 *   await comm.allreduce(send, 'sum', recv);
 * } catch (error) {
 *   if (error instanceof CommError && error.code === 'CollectiveFailed') {
 *     console.error(`rank ${String(error.details['rank'])} stopped: ${error.message}`);
 *   }
 *   throw error;
 * }
 * ```
 */
export class CommError extends CollectiveError {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static override readonly [CLASS_KEY]: string = 'CommError';
  /** Always `'CommError'`. */
  override name = 'CommError';
  /** What went wrong, stable across versions: see {@link CommErrorCode}. */
  readonly code: CommErrorCode;
  /** The operation that failed: 'allreduce', 'allgatherv', 'broadcast', 'barrier', … */
  readonly operation: string;
  /** The numbers involved (expected/actual sizes, ranks, sequence numbers, …). */
  readonly details: Readonly<Record<string, unknown>>;

  /**
   * Builds a CommError; the library raises these, user code rarely needs to.
   *
   * @param code - the error's {@link CommErrorCode}.
   * @param operation - the operation that failed; the message is prefixed with `${operation}: `.
   * @param message - what happened and what to do.
   * @param details - the data involved (sizes, ranks, sequence numbers); must survive JSON.
   */
  constructor(
    code: CommErrorCode,
    operation: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(`${operation}: ${message}`);
    this.code = code;
    this.operation = operation;
    this.details = details;
  }

  /** A plain object for logs and `JSON.stringify`: name, code, operation, message and details. */
  toJSON(): CommErrorJSON {
    return {
      name: this.name,
      code: this.code,
      operation: this.operation,
      message: this.message,
      details: this.details,
    };
  }
}

/** What {@link CommError.toJSON} returns. */
export interface CommErrorJSON {
  /** `'CommError'`. */
  name: string;
  /** The error's code. */
  code: CommErrorCode;
  /** The operation that failed. */
  operation: string;
  /** The full message, operation prefix included. */
  message: string;
  /** The error's details. */
  details: unknown;
}

/**
 * The stable kinds of {@link BackendError} (spec/selection.md §6 has the table with `context`):
 *
 * - `InvalidBackend`: an unknown backend name; `context.available` lists the known ones.
 * - `BackendNotAvailable`: a known backend that cannot run here (a missing runtime feature, a module
 *   that will not load).
 * - `MissingConfiguration`: a needed setting is unset (rank, size, coordinator…);
 *   `context.missing` lists each variable with an example line.
 * - `InitializationFailed`: the group could not form (coordinator unreachable within the connect
 *   timeout, port taken, name that does not resolve, handshake refused, shm group aborted).
 * - `IncompatibleSettings`: a malformed value, two sources that disagree, or an option of `train()`
 *   or `createShmGroup()` that is wrong; names the setting and what to pass.
 */
export type BackendErrorKind =
  | 'InvalidBackend'
  | 'BackendNotAvailable'
  | 'MissingConfiguration'
  | 'InitializationFailed'
  | 'IncompatibleSettings';

export const BACKEND_ERROR_KINDS: readonly BackendErrorKind[] = [
  'InvalidBackend',
  'BackendNotAvailable',
  'MissingConfiguration',
  'InitializationFailed',
  'IncompatibleSettings',
];

/**
 * A backend could not be selected, configured or started: raised by {@link init}, {@link train} and
 * {@link createShmGroup} before any collective runs (spec/selection.md §6); `describeEnvironment()`
 * reports the one init() would raise. The message ends with the suggestion.
 */
export class BackendError extends CollectiveError {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static override readonly [CLASS_KEY]: string = 'BackendError';
  /** Always `'BackendError'`. */
  override name = 'BackendError';
  /** What went wrong, stable across versions: see {@link BackendErrorKind}. */
  readonly kind: BackendErrorKind;
  /**
   * The data involved: the variable or option and its value (`variable`, `value`), what was
   * expected, the conflicting source, `missing` entries, `errno`, `address`…
   */
  readonly context: Readonly<Record<string, unknown>>;
  /** What the user should do next. */
  readonly suggestion: string;

  /**
   * Builds a BackendError; the library raises these, user code rarely needs to.
   *
   * @param kind - the error's {@link BackendErrorKind}.
   * @param message - what is wrong; the suggestion is appended after ` — `.
   * @param context - the data involved; must survive JSON.
   * @param suggestion - what the user should do next.
   */
  constructor(
    kind: BackendErrorKind,
    message: string,
    context: Record<string, unknown> = {},
    suggestion = '',
  ) {
    super(suggestion ? `${message} — ${suggestion}` : message);
    this.kind = kind;
    this.context = context;
    this.suggestion = suggestion;
  }

  /** A plain object for logs, `JSON.stringify` and `collective doctor --json`. */
  toJSON(): BackendErrorJSON {
    return {
      kind: this.kind,
      message: this.message,
      context: { ...this.context },
      suggestion: this.suggestion,
    };
  }
}

/** What {@link BackendError.toJSON} returns (also `describeEnvironment().error`). */
export interface BackendErrorJSON {
  /** The error's kind. */
  kind: BackendErrorKind;
  /** The full message, suggestion included. */
  message: string;
  /** A copy of the error's context. */
  context: Record<string, unknown>;
  /** What the user should do next. */
  suggestion: string;
}

/**
 * An error as it crossed a thread or process boundary (a plain, cloneable object): the
 * {@link WorkerError.inner} of a failed worker. The typed fields are present when the original was
 * a {@link CommError} (`code`, `operation`, `details`) or a {@link BackendError} (`kind`, `context`,
 * `suggestion`), or another error with a string `code` (e.g. Node's `ERR_*`).
 */
export interface SerializedError {
  /** The error's class name, e.g. `'CommError'`, `'TypeError'`. */
  name: string;
  /** The error's message. */
  message: string;
  /** The stack as it was in the worker. */
  stack?: string | undefined;
  /** `CommError.code`, or any other string `code` the error carried. */
  code?: string | undefined;
  /** `BackendError.kind`. */
  kind?: string | undefined;
  /** `CommError.operation`. */
  operation?: string | undefined;
  /** `CommError.details`, as JSON kept it (bigints as strings). */
  details?: Record<string, unknown> | undefined;
  /** `BackendError.context`, as JSON kept it. */
  context?: Record<string, unknown> | undefined;
  /** `BackendError.suggestion`. */
  suggestion?: string | undefined;
}

/**
 * A worker of train() failed; the first failure is the root cause (spec/train.md §5). `train()`
 * rejects with it when a worker's function throws (`exitCode` 1, `inner` set), a worker exits with a
 * non-zero code by itself, is killed by a signal, or exits 0 without returning.
 */
export class WorkerError extends CollectiveError {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static override readonly [CLASS_KEY]: string = 'WorkerError';
  /** Always `'WorkerError'`. */
  override name = 'WorkerError';
  /** The rank of the worker that failed first. */
  readonly rank: number;
  /** The exit code, or null when the worker was killed by a signal. */
  readonly exitCode: number | null;
  /** The signal that killed a process worker (e.g. `'SIGKILL'`, `'SIGABRT'` on out of memory), or null. */
  readonly signal: NodeJS.Signals | null;
  /** The worker's own error, or null when it died without one (process.exit, SIGKILL, OOM). */
  readonly inner: SerializedError | null;

  /**
   * Builds a WorkerError; train() raises these, user code rarely needs to.
   *
   * @param rank - the worker's rank.
   * @param exitCode - its exit code, or null when killed by a signal.
   * @param signal - the signal that killed it, or null.
   * @param inner - its own error, or null.
   * @param message - the message; by default {@link WorkerError.describe} of the other arguments.
   */
  constructor(
    rank: number,
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    inner: SerializedError | null,
    message?: string,
  ) {
    super(message ?? WorkerError.describe(rank, exitCode, signal, inner));
    this.rank = rank;
    this.exitCode = exitCode;
    this.signal = signal;
    this.inner = inner;
  }

  /**
   * The default message: `worker rank 2 threw TypeError: …`, `… was killed by SIGKILL` or
   * `… exited with code 3`.
   *
   * @param rank - the worker's rank.
   * @param exitCode - its exit code, or null.
   * @param signal - the signal that killed it, or null.
   * @param inner - its own error, or null.
   */
  static describe(
    rank: number,
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    inner: SerializedError | null,
  ): string {
    const how = inner
      ? `threw ${inner.name}: ${inner.message}`
      : signal
        ? `was killed by ${signal}`
        : `exited with code ${exitCode}`;
    return `worker rank ${rank} ${how}`;
  }
}

function plainRecord(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    // Details travel through structured clone / JSON; keep only what survives both.
    return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) as Record<
      string,
      unknown
    >;
  } catch {
    return undefined;
  }
}

/** Turns any thrown value into a plain object that survives postMessage, IPC and JSON. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const e = error as Error & Record<string, unknown>;
    const out: SerializedError = { name: e.name, message: e.message, stack: e.stack };
    if (typeof e['code'] === 'string') out.code = e['code'];
    if (typeof e['kind'] === 'string') out.kind = e['kind'];
    if (typeof e['operation'] === 'string') out.operation = e['operation'];
    if (typeof e['suggestion'] === 'string') out.suggestion = e['suggestion'];
    const details = plainRecord(e['details']);
    if (details) out.details = details;
    const context = plainRecord(e['context']);
    if (context) out.context = context;
    return out;
  }
  return { name: 'Error', message: typeof error === 'string' ? error : String(error) };
}

/** Rebuilds a typed error (CommError, BackendError) or a plain Error from serializeError's output. */
export function deserializeError(s: SerializedError): Error {
  let error: Error;
  if (s.name === 'CommError' && s.code && COMM_ERROR_CODES.includes(s.code as CommErrorCode)) {
    const operation = s.operation ?? 'unknown';
    const prefix = `${operation}: `;
    const message = s.message.startsWith(prefix) ? s.message.slice(prefix.length) : s.message;
    error = new CommError(s.code as CommErrorCode, operation, message, s.details ?? {});
  } else if (
    s.name === 'BackendError' &&
    s.kind &&
    BACKEND_ERROR_KINDS.includes(s.kind as BackendErrorKind)
  ) {
    error = new BackendError(s.kind as BackendErrorKind, '', s.context ?? {}, s.suggestion ?? '');
    error.message = s.message;
  } else {
    error = new Error(s.message);
    error.name = s.name;
    if (s.code) (error as Error & { code?: string }).code = s.code;
  }
  if (s.stack) error.stack = s.stack;
  return error;
}

/** How every backend emits a stall warning: process.emitWarning(message, { type, code }). */
export const STALL_WARNING_TYPE = 'CollectiveWarning';
export const STALL_WARNING_CODE = 'COLLECTIVE_STALL';
/** Seconds without progress before a waiting rank warns, and between repeats; 0 disables (every backend). */
export const DEFAULT_STALL_WARNING_SECS = 60;

/** The environment variable a user sets to change the fatal timeout (named in the stall warning). */
const TIMEOUT_ENV = 'COLLECTIVE_TIMEOUT_SECS';
/** Milliseconds per second, for the waited time printed with one decimal. */
const MS_PER_SEC = 1000;

/**
 * The text of the stall warning every waiting rank emits (shared by every backend, so the warning
 * reads the same whichever one runs): which collective, how long it has waited, for which ranks, and
 * when the fatal timeout will end the wait. e.g.
 * `collective #12 (allreduce): waiting 60.0 s for rank 3; still waiting — the fatal
 * timeout is 1800 s (COLLECTIVE_TIMEOUT_SECS)`.
 */
export function stallWarningMessage(
  sequence: number,
  kind: string,
  missing: readonly number[],
  waitedMs: number,
  timeoutSecs: number,
): string {
  const who = missing.length === 1 ? `rank ${missing[0]}` : `ranks ${missing.join(', ')}`;
  const waited = (waitedMs / MS_PER_SEC).toFixed(1);
  return `collective #${sequence} (${kind}): waiting ${waited} s for ${who}; still waiting — the fatal timeout is ${timeoutSecs} s (${TIMEOUT_ENV})`;
}

/**
 * The stall warning of a message operation that waits (a receive, a probe, a rendezvous send;
 * spec/communicator.md §10.7), worded as {@link stallWarningMessage}: e.g. `recv from rank 3, tag 7
 * on the world communicator (shm): waiting 60.0 s; still waiting — the fatal timeout is 1800 s
 * (COLLECTIVE_TIMEOUT_SECS)`.
 */
export function messageStallWarningMessage(describe: string, waitedMs: number, timeoutSecs: number): string {
  const waited = (waitedMs / MS_PER_SEC).toFixed(1);
  return `${describe}: waiting ${waited} s; still waiting — the fatal timeout is ${timeoutSecs} s (${TIMEOUT_ENV})`;
}
