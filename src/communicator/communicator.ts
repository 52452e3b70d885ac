/**
 * The Communicator contract (spec/communicator.md) and the one front end every backend sits behind.
 *
 * A backend implements `Backend`: raw data movement for already-validated arguments. The front end,
 * `CheckedCommunicator`, owns everything that must be identical across backends: argument checks,
 * fingerprints, the order of operations, result allocation, the object family, and close semantics.
 */
import { type DType, type NumericArray, type NumericArrayConstructor, type ReduceOp } from './dtypes.js';
import { CommError } from './errors.js';
import { digestInts, fingerprint, type CollectiveKind, type Fingerprint } from './fingerprint.js';
import { CannotTravel, decodeObject, encodeObject } from './objects.js';
import {
  allocate,
  checkApartOrSame,
  checkBuffer,
  checkLayout,
  checkOp,
  checkRecv,
  checkRegionRequest,
  checkRoot,
  packedDispls,
  type Layout,
} from './validate.js';

export type BackendName = 'local' | 'shm' | 'tcp' | (string & {});

/** Memory that the ranks of one node share (spec/communicator.md §4.8). */
export interface SharedRegion<T extends NumericArray = NumericArray> {
  readonly data: T;
  /** The one rank of the node that writes; the others read after fence(). */
  readonly isLeader: boolean;
  /** Orders the leader's writes before every rank's later reads (a barrier over the node's ranks). */
  fence(): Promise<void>;
  close(): Promise<void>;
}

export interface AllgathervOptions<T extends NumericArray> {
  /** Elements contributed by each rank; exchanged automatically when omitted. */
  counts?: ArrayLike<number>;
  /** Where each rank's block starts in recv; packed in rank order when omitted. */
  displs?: ArrayLike<number>;
  recv?: T;
}

export interface Communicator {
  readonly rank: number;
  readonly size: number;
  readonly backend: BackendName;
  /** True on the rank that leads its shared-memory node group. */
  readonly isLeader: boolean;
  readonly closed: boolean;
  allreduce<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T>;
  allgatherv<T extends NumericArray>(send: T, options?: AllgathervOptions<T>): Promise<T>;
  broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
  barrier(): Promise<void>;
  allgather<V>(value: V): Promise<V[]>;
  bcast<V>(value: V, root?: number): Promise<V>;
  createSharedRegion<T extends NumericArray>(
    ctor: NumericArrayConstructor<T>,
    count: number,
  ): Promise<SharedRegion<T>>;
  splitLocal(): Promise<Communicator>;
  close(): Promise<void>;
}

/**
 * What a backend implements. Arguments are validated and recv is allocated by the front end; the
 * front end also guarantees that at most one operation is in flight per communicator, in call order.
 * A fingerprint describes the call for comparison; a backend moves each buffer by its own element
 * type (dtypeOf(buffer)), never by fp.dtype — the front end's metadata exchanges (counts, lengths)
 * pass Float64Arrays whatever the user's dtype (spec §6.3).
 * Every collective must compare fingerprints across ranks at its first synchronisation and raise
 * `mismatchError` on every rank when they differ, before any data is delivered (spec §6).
 * A method may complete synchronously (return undefined) — the fast path of shared memory.
 */
export interface Backend {
  readonly name: BackendName;
  readonly rank: number;
  readonly size: number;
  readonly isLeader: boolean;
  /** recv has send.length elements and may be send itself. */
  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): Promise<void> | void;
  /** recv holds at least max(displs[r] + counts[r]) elements; counts[rank] === send.length. */
  allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> | void;
  broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> | void;
  barrier(fp: Fingerprint): Promise<void> | void;
  createSharedRegion<T extends NumericArray>(
    fp: Fingerprint,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>>;
  splitLocal(): Promise<Communicator>;
  /** Releases everything; an operation in flight rejects (InvalidCommunicator or CollectiveFailed). */
  close(): Promise<void>;
}

const PRECONDITION_CODES = new Set([
  'InvalidBufferSize',
  'InvalidRoot',
  'InvalidArgument',
  'AllocationFailed',
]);

export class CheckedCommunicator implements Communicator {
  readonly #backend: Backend;
  #closed = false;
  #closing: Promise<void> | null = null;
  #busy = false;
  readonly #queue: Array<() => void> = [];

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  get rank(): number {
    return this.#backend.rank;
  }
  get size(): number {
    return this.#backend.size;
  }
  get backend(): BackendName {
    return this.#backend.name;
  }
  get isLeader(): boolean {
    return this.#backend.isLeader;
  }
  get closed(): boolean {
    return this.#closed;
  }

  allreduce<T extends NumericArray>(send: T, op: ReduceOp = 'sum', recv?: T): Promise<T> {
    const operation = 'allreduce';
    let out: T;
    let fp: Fingerprint;
    try {
      this.#checkOpen(operation);
      const dtype = checkBuffer(operation, 'send', send);
      checkOp(operation, op);
      if (recv !== undefined) {
        checkRecv(operation, dtype, recv, send.length);
        checkApartOrSame(operation, send, recv);
      }
      out = recv ?? allocate<T>(operation, dtype, send.length);
      fp = fingerprint(operation, { dtype: dtype.name, count: send.length, op });
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    const n = send.length;
    return this.#schedule(
      operation,
      () =>
        send.length === n && out.length === n
          ? this.#backend.allreduce(fp, send, out, op)
          : this.#abandonNow(operation, changedError(operation, { send, recv: out })),
      out,
    );
  }

  allgatherv<T extends NumericArray>(send: T, options: AllgathervOptions<T> = {}): Promise<T> {
    const operation = 'allgatherv';
    let dtype: DType;
    try {
      this.#checkOpen(operation);
      dtype = checkBuffer(operation, 'send', send);
      if (options === null || typeof options !== 'object') {
        throw new CommError(
          'InvalidArgument',
          operation,
          'options must be an object { counts?, displs?, recv? }.',
        );
      }
      if (options.counts === undefined) {
        if (options.displs !== undefined) {
          throw new CommError(
            'InvalidArgument',
            operation,
            'displs without counts: pass counts too, or omit both to pack blocks in rank order.',
          );
        }
        if (options.recv !== undefined) {
          checkBuffer(operation, 'recv', options.recv);
          checkApartOrSame(operation, send, options.recv);
        }
      } else {
        const layout = checkLayout(
          operation,
          this.rank,
          this.size,
          send.length,
          options.counts,
          options.displs,
        );
        return this.#gatherWithLayout(operation, operation, dtype, send, layout, options.recv);
      }
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    // Counts unknown: exchange them, then gather — two collectives in one scheduled call (spec §6.1).
    const n = send.length;
    return this.#schedule(
      operation,
      async () => {
        if (send.length !== n) return this.#abandonNow(operation, changedError(operation, { send }));
        const counts = await this.#countsNow(operation, send.length);
        return this.#gatherNow(operation, operation, dtype, send, packedLayout(counts), options.recv);
      },
      undefined as unknown as T,
    );
  }

  broadcast<T extends NumericArray>(buf: T, root = 0): Promise<T> {
    const operation = 'broadcast';
    let fp: Fingerprint;
    try {
      this.#checkOpen(operation);
      const dtype = checkBuffer(operation, 'buf', buf);
      checkRoot(operation, root, this.size);
      fp = fingerprint(operation, { dtype: dtype.name, count: buf.length, root });
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    const n = buf.length;
    return this.#schedule(
      operation,
      () =>
        buf.length === n
          ? this.#backend.broadcast(fp, buf, root)
          : this.#abandonNow(operation, changedError(operation, { buf })),
      buf,
    );
  }

  barrier(): Promise<void> {
    const operation = 'barrier';
    try {
      this.#checkOpen(operation);
    } catch (error) {
      return Promise.reject(error);
    }
    const fp = fingerprint(operation);
    return this.#schedule(operation, () => this.#backend.barrier(fp), undefined);
  }

  async allgather<V>(value: V): Promise<V[]> {
    const operation = 'allgather';
    let bytes: Uint8Array;
    try {
      this.#checkOpen(operation);
      bytes = encodeWith(operation, value);
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    return this.#schedule(
      operation,
      async () => {
        const layout = packedLayout(await this.#countsNow(operation, bytes.length));
        const all = await this.#gatherNow(operation, operation, dtypeOfBytes, bytes, layout, undefined);
        return layout.counts.map((c, r) => {
          const at = layout.displs[r] as number;
          return decodeObject<V>(all.subarray(at, at + c));
        });
      },
      undefined as unknown as V[],
    );
  }

  async bcast<V>(value: V, root = 0): Promise<V> {
    const operation = 'bcast';
    let bytes: Uint8Array | null = null;
    try {
      this.#checkOpen(operation);
      checkRoot(operation, root, this.size);
      if (this.rank === root) bytes = encodeWith(operation, value);
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    // The length, then the bytes — two collectives in one scheduled call (spec §6.1).
    return this.#schedule(
      operation,
      async () => {
        const length = new Float64Array([bytes?.length ?? 0]);
        await this.#backend.broadcast(fingerprint(operation, { root }), length, root);
        let buf: Uint8Array;
        try {
          buf = bytes ?? allocate<Uint8Array>(operation, dtypeOfBytes, length[0] as number);
        } catch (error) {
          return this.#abandonNow(operation, error);
        }
        const dataFp = fingerprint(operation, { dtype: 'uint8', count: buf.length, root });
        await this.#backend.broadcast(dataFp, buf, root);
        // Boxed: a bcast of `undefined` is a value, not "no result" to the scheduler.
        return { value: this.rank === root ? value : decodeObject<V>(buf) };
      },
      undefined,
    ).then((box) => (box as unknown as { value: V }).value);
  }

  createSharedRegion<T extends NumericArray>(
    ctor: NumericArrayConstructor<T>,
    count: number,
  ): Promise<SharedRegion<T>> {
    const operation = 'createSharedRegion';
    let fp: Fingerprint;
    let dtype: DType;
    try {
      this.#checkOpen(operation);
      dtype = checkRegionRequest(operation, ctor, count);
      fp = fingerprint(operation, { dtype: dtype.name, count });
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    return this.#schedule(
      operation,
      () => this.#backend.createSharedRegion<T>(fp, dtype, count),
      undefined,
    ).then((region) => region as unknown as SharedRegion<T>);
  }

  splitLocal(): Promise<Communicator> {
    const operation = 'splitLocal';
    try {
      this.#checkOpen(operation);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#schedule(operation, () => this.#backend.splitLocal(), undefined).then(
      (c) => c as unknown as Communicator,
    );
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    // Queued operations see #closed when they start and reject with InvalidCommunicator.
    for (const start of this.#queue.splice(0)) start();
    this.#closing = this.#backend.close();
    return this.#closing;
  }

  #checkOpen(operation: string): void {
    if (this.#closed) {
      throw new CommError(
        'InvalidCommunicator',
        operation,
        'the communicator is closed; call init() again on every rank to communicate again.',
        { rank: this.rank },
      );
    }
  }

  /**
   * Runs `run` when no earlier operation is in flight. `result` is what the caller gets, unless
   * run itself returns a value (a promise of one): then that value.
   */
  #schedule<R>(operation: string, run: () => Promise<unknown> | unknown, result: R): Promise<R> {
    // The idle path calls #start directly: no closure per call (small collectives are ~1 µs).
    if (!this.#busy) return this.#start(operation, run, result);
    return new Promise<R>((resolve, reject) =>
      this.#queue.push(() => void this.#start(operation, run, result).then(resolve, reject)),
    );
  }

  #start<R>(operation: string, run: () => Promise<unknown> | unknown, result: R): Promise<R> {
    try {
      this.#checkOpen(operation);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#busy = true;
    let pending: unknown;
    try {
      pending = run();
    } catch (error) {
      this.#next();
      return Promise.reject(error);
    }
    if (!(pending instanceof Promise)) {
      this.#next();
      return Promise.resolve((pending === undefined ? result : pending) as R);
    }
    return pending.then(
      (value) => {
        this.#next();
        return (value === undefined ? result : value) as R;
      },
      (error: unknown) => {
        this.#next();
        throw error;
      },
    );
  }

  #next(): void {
    this.#busy = false;
    const start = this.#queue.shift();
    if (start) start();
  }

  /**
   * A precondition failed on this rank. The other ranks are (or will be) inside the same collective,
   * so this rank still takes part with an `invalid` fingerprint; every rank then raises (spec §6.2).
   */
  #rejectEverywhere<R>(operation: string, error: unknown): Promise<R> {
    if (!this.#mustTellOthers(error)) return Promise.reject(error);
    return this.#schedule(operation, () => this.#abandonNow(operation, error), undefined as R);
  }

  #mustTellOthers(error: unknown): boolean {
    const code = error instanceof CommError ? error.code : null;
    return this.size > 1 && !this.#closed && code !== null && PRECONDITION_CODES.has(code);
  }

  /** Inside a scheduled call: take part in the round with an invalid fingerprint, then raise our own error. */
  async #abandonNow(operation: string, error: unknown): Promise<never> {
    if (this.#mustTellOthers(error)) {
      const fp = fingerprint(kindOf(operation), { invalid: (error as CommError).code });
      try {
        await this.#backend.barrier(fp);
      } catch {
        // The others' error names this rank; this rank raises its own, more precise one.
      }
    }
    throw error;
  }

  /**
   * Inside a scheduled call: every rank's element count. Metadata travels as float64 (exact to
   * 2^53) whatever the user's dtype, and its fingerprint names no dtype: the fingerprint of a call
   * always describes the buffers it moves (spec §6.3). A dtype disagreement is caught by the gather.
   */
  async #countsNow(operation: string, count: number): Promise<number[]> {
    const mine = new Float64Array([count]);
    const all = new Float64Array(this.size);
    const ones = new Array<number>(this.size).fill(1);
    const iota = ones.map((_, r) => r);
    await this.#backend.allgatherv(fingerprint(kindOf(operation)), mine, all, ones, iota);
    return Array.from(all);
  }

  /** Inside a scheduled call: gather into recv (checked against the now-known layout) or a new array. */
  async #gatherNow<T extends NumericArray>(
    operation: string,
    kind: CollectiveKind,
    dtype: DType,
    send: T,
    layout: Layout,
    recv: T | undefined,
  ): Promise<T> {
    let out: T;
    try {
      out = gatherTarget(operation, dtype, send, layout, recv);
    } catch (error) {
      return this.#abandonNow(operation, error);
    }
    await this.#backend.allgatherv(
      layoutFingerprint(kind, dtype, layout),
      send,
      out,
      layout.counts,
      layout.displs,
    );
    return out;
  }

  #gatherWithLayout<T extends NumericArray>(
    operation: string,
    kind: CollectiveKind,
    dtype: DType,
    send: T,
    layout: Layout,
    recv: T | undefined,
  ): Promise<T> {
    let out: T;
    try {
      out = gatherTarget(operation, dtype, send, layout, recv);
    } catch (error) {
      return this.#rejectEverywhere(operation, error);
    }
    const fp = layoutFingerprint(kind, dtype, layout);
    const n = send.length;
    const extent = out.length;
    return this.#schedule(
      operation,
      () =>
        send.length === n && out.length === extent
          ? this.#backend.allgatherv(fp, send, out, layout.counts, layout.displs)
          : this.#abandonNow(operation, changedError(operation, { send, recv: out })),
      out,
    );
  }
}

/** The caller's recv when it fits the layout, else a new array of the layout's extent. */
function gatherTarget<T extends NumericArray>(
  operation: string,
  dtype: DType,
  send: T,
  layout: Layout,
  recv: T | undefined,
): T {
  if (recv === undefined) return allocate<T>(operation, dtype, layout.extent);
  const recvDtype = checkBuffer(operation, 'recv', recv);
  if (recvDtype !== dtype || recv.length < layout.extent) checkRecv(operation, dtype, recv, layout.extent);
  checkApartOrSame(operation, send, recv);
  return recv;
}

/**
 * A buffer changed between the call and the start of its queued collective (the caller did not
 * await): detached, or its resizable buffer shrank. The error names it (spec §4, detached buffers).
 */
function changedError(operation: string, buffers: Record<string, NumericArray>): CommError {
  for (const [name, buffer] of Object.entries(buffers)) {
    try {
      checkBuffer(operation, name, buffer);
    } catch (error) {
      return error as CommError;
    }
  }
  return new CommError(
    'InvalidBufferSize',
    operation,
    `${Object.keys(buffers).join(' or ')} changed length between the call and the start of the collective; do not resize or transfer a buffer until its collective has settled.`,
    { arguments: Object.keys(buffers) },
  );
}

function layoutFingerprint(kind: CollectiveKind, dtype: DType, layout: Layout): Fingerprint {
  return fingerprint(kind, {
    dtype: dtype.name,
    count: layout.counts.reduce((a, b) => a + b, 0),
    // Counts and displs hashed in sequence: swapping them between ranks changes the digest.
    digest: digestInts(layout.displs, digestInts(layout.counts)),
  });
}

const dtypeOfBytes = checkBuffer('allgather', 'bytes', new Uint8Array(0));

function kindOf(operation: string): CollectiveKind {
  return operation === 'splitLocal' ? 'barrier' : (operation as CollectiveKind);
}

function packedLayout(counts: number[]): Layout {
  const displs = packedDispls(counts);
  return {
    counts,
    displs,
    extent: counts.length === 0 ? 0 : displs[counts.length - 1]! + counts[counts.length - 1]!,
  };
}

function encodeWith(operation: string, value: unknown): Uint8Array {
  try {
    return encodeObject(value);
  } catch (cause) {
    if (cause instanceof CannotTravel) {
      throw new CommError('InvalidArgument', operation, `${cause.message} (spec §4.6 lists what travels).`, {
        argument: 'value',
        path: cause.path,
      });
    }
    throw new CommError(
      'InvalidArgument',
      operation,
      `the value cannot be encoded (${(cause as Error).message}); pass plain data: objects, arrays, Maps, Sets, Dates, bigints, typed arrays (spec §4.6 lists what travels).`,
      { argument: 'value' },
    );
  }
}
