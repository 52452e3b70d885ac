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

/** Base class of every error this library raises. */
export class CollectiveError extends Error {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static readonly [CLASS_KEY]: string = 'CollectiveError';
  override name = 'CollectiveError';

  /** An instance of this class, of this copy of the package or of another (see CLASS_KEY). */
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

/** A collective operation failed or was called wrongly. */
export class CommError extends CollectiveError {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static override readonly [CLASS_KEY]: string = 'CommError';
  override name = 'CommError';
  readonly code: CommErrorCode;
  /** The operation that failed: 'allreduce', 'allgatherv', 'broadcast', 'barrier', … */
  readonly operation: string;
  /** The numbers involved (expected/actual sizes, ranks, sequence numbers, …). */
  readonly details: Readonly<Record<string, unknown>>;

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

  toJSON(): { name: string; code: CommErrorCode; operation: string; message: string; details: unknown } {
    return {
      name: this.name,
      code: this.code,
      operation: this.operation,
      message: this.message,
      details: this.details,
    };
  }
}

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

/** A backend could not be selected, configured or started. */
export class BackendError extends CollectiveError {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static override readonly [CLASS_KEY]: string = 'BackendError';
  override name = 'BackendError';
  readonly kind: BackendErrorKind;
  readonly context: Readonly<Record<string, unknown>>;
  /** What the user should do next. */
  readonly suggestion: string;

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

  toJSON(): {
    kind: BackendErrorKind;
    message: string;
    context: Record<string, unknown>;
    suggestion: string;
  } {
    return {
      kind: this.kind,
      message: this.message,
      context: { ...this.context },
      suggestion: this.suggestion,
    };
  }
}

/** An error as it crossed a thread or process boundary. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: string | undefined;
  kind?: string | undefined;
  operation?: string | undefined;
  details?: Record<string, unknown> | undefined;
  context?: Record<string, unknown> | undefined;
  suggestion?: string | undefined;
}

/** A worker of train() or `collective run` failed; the first failure is the root cause. */
export class WorkerError extends CollectiveError {
  /** @internal This class's name under CLASS_KEY, for `instanceof` across copies of the package. */
  static override readonly [CLASS_KEY]: string = 'WorkerError';
  override name = 'WorkerError';
  readonly rank: number;
  /** The exit code, or null when the worker was killed by a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The worker's own error, or null when it died without one (process.exit, SIGKILL, OOM). */
  readonly inner: SerializedError | null;

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
