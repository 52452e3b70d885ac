/**
 * The Communicator contract (spec/communicator.md) and the one front end every backend sits behind.
 *
 * A backend implements `Backend`: raw data movement for already-validated arguments. The front end,
 * `CheckedCommunicator`, owns everything that must be identical across backends: argument checks,
 * fingerprints, the order of operations, result allocation, the object family, and close semantics.
 */
import { type DType, type NumericArray, type NumericArrayConstructor, type ReduceOp } from './dtypes.js';
import { CommError } from './errors.js';
import {
  AllreduceShape,
  BARRIER_FINGERPRINT,
  BroadcastShape,
  FingerprintCache,
  rememberable,
} from './call-shape.js';
import { digestInts, fingerprint, type CollectiveKind, type Fingerprint } from './fingerprint.js';
import type {
  MessageStatus,
  PointToPoint,
  RecvObjectResult,
  RecvResult,
  SendrecvOptions,
} from './messages/api.js';
import type { PairChannel } from './messages/channel.js';
import { splitNow, type SplitRequest } from './groups/split.js';
import { messageLayerFor } from './messages/engine.js';
import type { MessageGroup } from './messages/layer.js';
import { PointToPointCalls } from './messages/point-to-point.js';
import { decodeObject, encodeWith } from './objects.js';
import type { AlltoallvOptions, GathervOptions, RootedCollectives, ScattervOptions } from './rooted/api.js';
import { ExchangeOps } from './rooted/exchange.js';
import type { RootedHost } from './rooted/host.js';
import { RootedOps } from './rooted/rooted.js';
import {
  allocate,
  checkApartOrSame,
  checkBuffer,
  checkLayout,
  checkOp,
  checkRecv,
  checkRegionRequest,
  changedError,
  checkRoot,
  packedDispls,
  type Layout,
} from './validate.js';

/**
 * The backends this build registers: `'local'` (one rank), `'shm'` (worker threads of one process over
 * SharedArrayBuffer + Atomics), `'tcp'` (processes on one or many machines), `'ws'` (processes or browser tabs over
 * WebSocket) and `'mpi'` (the ranks of an MPI job, over the system's MPI: spec/backend-mpi.md). The contract may not
 * import selection/, so the names are written here; the backend table (src/selection/backends.ts)
 * fails to compile unless it has exactly one row for each. Spec: spec/selection.md §2.
 */
export type KnownBackendName = 'local' | 'shm' | 'tcp' | 'ws' | 'mpi';

/**
 * The transport behind a {@link Communicator} (`comm.backend`): one of {@link KnownBackendName}. Open
 * to further names (`string & {}`) so that backends added later type-check; compare with the
 * literals. Spec: spec/selection.md §2.
 */
export type BackendName = KnownBackendName | (string & {});

/**
 * Memory that the ranks of one node share (spec/communicator.md §4.8), made by
 * {@link Communicator.createSharedRegion}. On `shm` every rank of the node group sees the same
 * bytes; on `local` and `tcp` (the heap fallback) every rank holds a private copy and is its own
 * leader, so the one pattern below is correct on every backend.
 *
 * @typeParam T - the typed array of `data` (the constructor passed to createSharedRegion).
 * @example
 * ```ts
 * const region = await comm.createSharedRegion(Float64Array, 1024);
 * if (region.isLeader) region.data.fill(1); // one writer per node
 * await region.fence(); // now every rank of the node reads the leader's values
 * const total = region.data.reduce((a, b) => a + b, 0);
 * await region.close();
 * ```
 */
export interface SharedRegion<T extends NumericArray = NumericArray> {
  /**
   * The region's elements: `count` elements of the requested type (length in elements, not bytes),
   * zero-filled at creation. Write it only on the leader; read it on any rank after {@link fence}.
   */
  readonly data: T;
  /** The one rank of the node that writes; the others read after fence(). */
  readonly isLeader: boolean;
  /**
   * Orders the leader's writes before every rank's later reads (a barrier over the node's ranks).
   * A collective of the node group: every rank of it must call fence() at the same point of its
   * sequence. On `local`/`tcp` it resolves at once (nothing to order).
   *
   * @throws {@link CommError} `InvalidCommunicator` (shm) after {@link close}; `CollectiveMismatch`
   * when another rank of the node called a different collective (e.g. `barrier()`) at this point;
   * `CollectiveFailed` / `Timeout` as any collective (spec/communicator.md §7).
   */
  fence(): Promise<void>;
  /**
   * Releases this rank's hold on the region; idempotent, not a collective. On `shm` a later fence()
   * rejects with `InvalidCommunicator`; the memory is reclaimed once no rank references `data`.
   */
  close(): Promise<void>;
}

/**
 * The layout and destination of {@link Communicator.allgatherv} (spec/communicator.md §4.2). All
 * counts and offsets are in elements of the send array's dtype, not bytes.
 *
 * @typeParam T - the typed array of `send` and `recv`.
 */
export interface AllgathervOptions<T extends NumericArray> {
  /**
   * Elements contributed by each rank; exchanged automatically when omitted. `size` non-negative
   * integers, the same on every rank, with `counts[rank] === send.length` (else `InvalidBufferSize`).
   */
  counts?: ArrayLike<number>;
  /**
   * Where each rank's block starts in recv, in elements; packed in rank order when omitted
   * (`displs[r] = counts[0] + … + counts[r-1]`). Only together with `counts`; `size` non-negative
   * integers whose blocks do not overlap (else `InvalidArgument`).
   */
  displs?: ArrayLike<number>;
  /**
   * Where to gather: the send dtype, at least `max(displs[r] + counts[r])` elements, not partly
   * overlapping `send`. Elements outside every block are left as they were. When omitted a new
   * array of exactly that extent is returned.
   */
  recv?: T;
}

/**
 * A group of `size` ranks that run collectives together: the contract every backend implements
 * identically (spec/communicator.md). Get one from {@link init} (or as the first argument of a
 * {@link train} worker).
 *
 * Every rank must call the same collectives in the same order with agreeing arguments (§6).
 * Operations on one communicator run one at a time in call order, even when not awaited. Two
 * families with distinct names: buffer methods ({@link allreduce}, {@link allgatherv},
 * {@link broadcast}) move numeric typed arrays of any {@link DTypeName} without encoding; object
 * methods ({@link allgather}, {@link bcast}) move any MessagePack-encodable value. Reductions run in
 * rank order, so results are bit-for-bit identical on every rank, backend and run (§5).
 *
 * Errors are {@link CommError}s with a stable `code`. Bad arguments on one rank reject the call on
 * every rank with the same code (`details.invalidRanks` names the culprit), never a hang; afterwards
 * the communicator stays usable. A peer that dies or closes gives `CollectiveFailed` on the others
 * (within 1 s); no progress for the fatal timeout (`COLLECTIVE_TIMEOUT_SECS`, default 1800 s) gives
 * `Timeout`, after a `COLLECTIVE_STALL` warning every 60 s (spec/selection.md §3.1). After either,
 * create a new communicator.
 *
 * @example
 * ```ts
 * import { init } from 'collective';
 *
 * const comm = await init();
 * const sum = await comm.allreduce(Float64Array.of(comm.rank, 1)); // [0+1+…+(size-1), size]
 * const everyone = await comm.allgather({ rank: comm.rank, pid: process.pid });
 * await comm.close();
 * ```
 */
export interface Communicator extends PointToPoint, RootedCollectives {
  /** This rank's index, an integer with `0 ≤ rank < size`; constant for the communicator's life. */
  readonly rank: number;
  /** The number of ranks (an integer ≥ 1), equal on every rank. */
  readonly size: number;
  /** The transport behind this communicator: `'local'`, `'shm'`, `'tcp'`, `'ws'` or `'mpi'`. */
  readonly backend: BackendName;
  /**
   * True on the rank that leads its shared-memory node group (rank 0 of {@link splitLocal}); on
   * `local` and `tcp` every rank is its own leader (spec/communicator.md §4.7).
   */
  readonly isLeader: boolean;
  /** True from the moment {@link close} is called; every later call rejects with `InvalidCommunicator`. */
  readonly closed: boolean;
  /**
   * Combines `send` element-wise across all ranks with `op`, applied in rank order
   * (`x0 ∘ x1 ∘ … ∘ x[size-1]`), and gives every rank the same result, bit for bit
   * (spec/communicator.md §4.1, §5). Integers wrap, `Uint8ClampedArray` clamps, floats round to
   * the element type at each step; `min`/`max` propagate NaN.
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - this rank's contribution: a numeric typed array of any dtype (subarrays allowed),
   *   the same dtype and length (in elements) on every rank. Not modified unless it is `recv`.
   * @param op - `'sum'` (default), `'prod'`, `'min'` or `'max'`, the same on every rank.
   * @param recv - where to write the result: `send.length` elements of `send`'s dtype; may be `send`
   *   itself (in place) but must not partly overlap it. A new array of `send`'s type when omitted.
   * @returns `recv` (or the new array), holding the reduction.
   * @throws {@link CommError} `InvalidArgument` (not a numeric typed array, detached, unknown op,
   *   recv of another dtype or partly overlapping send), `InvalidBufferSize` (recv length ≠
   *   send.length), `AllocationFailed`, `CollectiveMismatch` (ranks disagree on dtype, length or op),
   *   `CollectiveFailed`, `Timeout`, `InvalidCommunicator` (closed).
   * @example
   * ```ts
   * const grad = new Float32Array(1024); // this rank's gradient
   * await comm.allreduce(grad, 'sum', grad); // in place: every rank now holds the sum
   * const best = await comm.allreduce(Int32Array.of(score), 'max');
   * ```
   */
  allreduce<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T>;
  /**
   * Gathers a block of any length from every rank into one array, rank r's block at `displs[r]`
   * (packed in rank order by default), identical on every rank (spec/communicator.md §4.2). With
   * `counts` omitted the counts are exchanged first (one more collective inside the same call).
   *
   * @typeParam T - the typed array of `send` and the result.
   * @param send - this rank's block: a numeric typed array, the same dtype on every rank; its
   *   length (elements) may differ per rank.
   * @param options - `counts`, `displs` (in elements) and `recv`; see {@link AllgathervOptions}.
   * @returns `options.recv`, or a new array of `send`'s type and length `max(displs[r] + counts[r])`
   *   (the sum of all counts when packed).
   * @throws {@link CommError} `InvalidArgument` (bad send/recv, bad counts or displs, displs without
   *   counts, overlapping blocks), `InvalidBufferSize` (`counts[rank] !== send.length`, recv too
   *   short), `AllocationFailed`, `CollectiveMismatch` (ranks disagree on dtype, counts or displs),
   *   `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const mine = new Float64Array(comm.rank + 1).fill(comm.rank); // rank r sends r+1 elements
   * const all = await comm.allgatherv(mine); // [0, 1, 1, 2, 2, 2, …] on every rank
   * // Known layout: no count exchange, and a caller-owned destination.
   * const counts = Array.from({ length: comm.size }, (_, r) => r + 1);
   * const recv = new Float64Array(counts.reduce((a, b) => a + b, 0));
   * await comm.allgatherv(mine, { counts, recv });
   * ```
   */
  allgatherv<T extends NumericArray>(send: T, options?: AllgathervOptions<T>): Promise<T>;
  /**
   * Copies the root's `buf` into `buf` on every other rank, in place (spec/communicator.md §4.3).
   * The root's `buf` is not changed.
   *
   * @typeParam T - the typed array of `buf`.
   * @param buf - a numeric typed array, the same dtype and length (elements) on every rank; the
   *   root's holds the data, the others' are overwritten.
   * @param root - the sending rank, an integer in `[0, size)`, the same on every rank; default 0.
   * @returns `buf`.
   * @throws {@link CommError} `InvalidArgument` (not a numeric typed array, detached), `InvalidRoot`,
   *   `CollectiveMismatch` (dtype, length or root differ), `CollectiveFailed`, `Timeout`,
   *   `InvalidCommunicator`.
   * @example
   * ```ts
   * const weights = new Float64Array(16);
   * if (comm.rank === 0) weights.set(loadWeights());
   * await comm.broadcast(weights, 0); // every rank now holds rank 0's weights
   * ```
   */
  broadcast<T extends NumericArray>(buf: T, root?: number): Promise<T>;
  /**
   * Waits until every rank has entered this barrier (spec/communicator.md §4.4): no rank returns
   * from barrier n before all have entered it, so what a rank did before (files, shared memory) is
   * visible to every rank after.
   *
   * @throws {@link CommError} `CollectiveMismatch` (another rank called a different collective here),
   *   `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   */
  barrier(): Promise<void>;
  /**
   * Gathers one value from every rank, in rank order, on every rank (spec/communicator.md §4.5).
   * Values are MessagePack-encoded: plain objects, arrays, strings, numbers, bigints, Dates, Maps,
   * Sets, typed arrays, cycles travel; functions, symbols, class instances and SharedArrayBuffers are
   * refused (§4.6 has the table; `-0` arrives as `0`). Every element of the result, this rank's own
   * included, is a decoded copy. Two collectives inside one call (byte counts, then bytes).
   *
   * @typeParam V - the type of the values (the same on every rank, by contract; not checked).
   * @param value - any encodable value; its size may differ per rank.
   * @returns an array of `size` values, rank r's at index r.
   * @throws {@link CommError} `InvalidArgument` on every rank when a value cannot travel
   *   (`details.path` names where, e.g. `value.list[3].f`), `AllocationFailed`, `CollectiveMismatch`,
   *   `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const hosts = await comm.allgather({ rank: comm.rank, host: os.hostname() });
   * const onMyHost = hosts.filter((h) => h.host === os.hostname()).length;
   * ```
   */
  allgather<V>(value: V): Promise<V[]>;
  /**
   * Gives every rank the root's value (spec/communicator.md §4.6). Encoding as for
   * {@link allgather}; the root gets its own value back (the same object), every other rank a
   * decoded copy. Non-roots' `value` arguments are ignored (not encoded).
   *
   * @typeParam V - the type of the root's value.
   * @param value - on the root, any encodable value; elsewhere anything (e.g. `null`).
   * @param root - the sending rank, an integer in `[0, size)`, the same on every rank; default 0.
   * @returns the root's value.
   * @throws {@link CommError} `InvalidRoot`, `InvalidArgument` (the root's value cannot travel; on
   *   every rank), `AllocationFailed`, `CollectiveMismatch`, `CollectiveFailed`, `Timeout`,
   *   `InvalidCommunicator`.
   * @example
   * ```ts
   * const config = await comm.bcast(comm.rank === 0 ? { lr: 0.1, epochs: 5 } : null);
   * ```
   */
  bcast<V>(value: V, root?: number): Promise<V>;
  /**
   * Creates memory shared by the ranks of this rank's node group (spec/communicator.md §4.8): a
   * collective of this communicator, so every rank calls it with the same type and count. On `shm`
   * the node's ranks map the same SharedArrayBuffer (no copies); on `local` and `tcp` each rank
   * gets its own heap copy and is its own leader.
   *
   * @typeParam T - the typed array `ctor` constructs.
   * @param ctor - the element type: a numeric typed array constructor such as `Float64Array`.
   * @param count - the number of elements (not bytes), a non-negative safe integer.
   * @returns a {@link SharedRegion} whose `data` holds `count` zero-filled elements.
   * @throws {@link CommError} `InvalidArgument` (not a numeric typed array constructor, bad count),
   *   `AllocationFailed` (the memory cannot be allocated; on every rank), `CollectiveMismatch`
   *   (ranks disagree on type or count), `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const table = await comm.createSharedRegion(Float32Array, 1 << 20); // 4 MiB, once per node on shm
   * if (table.isLeader) table.data.set(loadTable());
   * await table.fence();
   * ```
   */
  createSharedRegion<T extends NumericArray>(
    ctor: NumericArrayConstructor<T>,
    count: number,
  ): Promise<SharedRegion<T>>;
  /**
   * Returns the communicator of the ranks that share memory with this rank: its node group
   * (spec/communicator.md §4.7). On `shm` that is the whole group (every rank is on one node), over
   * the same group and queue, so collectives on it and on this communicator must be ordered the same
   * way on every rank. On `local` and `tcp` it is a new one-rank `local` communicator (each process
   * is its own node). Its rank 0 is the node's leader (`isLeader`). Not a collective on any backend
   * today. Close it when done; closing it leaves this communicator open.
   *
   * @throws {@link CommError} `InvalidCommunicator` when this communicator is closed.
   * @example
   * ```ts
   * const node = await comm.splitLocal();
   * // One rank per node loads the data set; the node's other ranks read it from shared memory.
   * const region = await node.createSharedRegion(Float64Array, n);
   * if (node.isLeader) region.data.set(await loadDataset());
   * await region.fence();
   * ```
   */
  splitLocal(): Promise<Communicator>;
  /**
   * Partitions this communicator's ranks into new communicators, one per color, like
   * MPI_Comm_split (spec/communicator.md §11.1): the ranks that pass the same `color` form one
   * communicator, ordered by `key` and, for equal keys, by their rank here. A rank that passes
   * `null` or `undefined` (MPI_UNDEFINED) joins none and gets `null`. A collective of this
   * communicator: every rank calls it at the same point of its sequence.
   *
   * The new communicator has its own context ids (§11.2): its collectives and messages never match
   * this communicator's or any other's, and may be in flight at the same time. Its `backend` is this
   * communicator's; its collectives travel as messages through rank 0 of the new communicator
   * (§11.4), with the same results, bit for bit, as on a world of the same ranks. Each of its ranks
   * is its own node leader (heap shared regions, one-rank splitLocal()). Close it on every rank when
   * done (§11.5); closing either leaves the other open (a derived communicator fails with
   * `CollectiveFailed` once its world is closed).
   *
   * @param color - a non-negative safe integer, or `null`/`undefined` to take no part.
   * @param key - a safe integer (negative allowed) that orders this rank in its new communicator;
   *   default: this rank.
   * @returns the communicator of this rank's color, or `null` when `color` is null/undefined.
   * @throws {@link CommError} `InvalidArgument` (a color that is not a non-negative safe integer, a
   *   key that is not a safe integer; on every rank, `details.invalidRanks` naming the culprit),
   *   `CollectiveMismatch` (another rank called a different collective here), `CollectiveFailed`,
   *   `Timeout`, `InvalidCommunicator` (closed).
   * @example
   * ```ts
   * // Rows and columns of a 2-D process grid of `cols` columns.
   * const row = await comm.split(Math.floor(comm.rank / cols)); // ranks of my row, in rank order
   * const col = await comm.split(comm.rank % cols, -comm.rank); // my column, in reverse rank order
   * const rowSum = await row!.allreduce(Float64Array.of(x));
   * await row!.close();
   * await col!.close();
   * ```
   */
  split(color: number | null | undefined, key?: number): Promise<Communicator | null>;
  /**
   * A new communicator of the same ranks in the same order, with its own context ids (MPI_Comm_dup,
   * spec/communicator.md §11.3): a library can run its collectives and messages on a dup without
   * ever matching the caller's. A collective of this communicator; otherwise as {@link split}.
   *
   * @returns the new communicator (`rank` and `size` as this one's).
   * @throws {@link CommError} `CollectiveMismatch`, `CollectiveFailed`, `Timeout`,
   *   `InvalidCommunicator` (closed).
   * @example
   * ```ts
   * const mine = await comm.dup(); // a library's private communicator
   * await Promise.all([mine.barrier(), comm.allreduce(grad, 'sum', grad)]); // never interfere
   * await mine.close();
   * ```
   */
  dup(): Promise<Communicator>;
  /**
   * Ends this communicator (spec/communicator.md §3). Idempotent; `closed` is true at once.
   * Operations queued and not started, and every later call, reject with `InvalidCommunicator`; an
   * operation in flight rejects (`InvalidCommunicator`, or `CollectiveFailed`). Resolves when the
   * backend has released its waits, sockets and timers. Ranks still calling collectives get
   * `CollectiveFailed` naming this rank. `init()` again on every rank makes a new communicator of
   * the same group (spec/selection.md §5.4).
   */
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
  /** Ordered frames to every other rank of the world: what the message layer runs on (messages/channel.ts). */
  readonly channel: PairChannel;
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
  /** The last call shapes that passed every check, and fingerprints by value (call-shape.ts, spec §6.4). */
  #allreduceShape: AllreduceShape | null = null;
  #broadcastShape: BroadcastShape | null = null;
  readonly #allreduceFps = new FingerprintCache('allreduce');
  readonly #broadcastFps = new FingerprintCache('broadcast');
  /** The promise the last synchronously completed call returned, and the value it resolves to. */
  #settled: Promise<unknown> | null = null;
  #settledValue: unknown = undefined;

  /** Made lazily: a world attaches its channel's message layer only once messages are used. */
  #group: MessageGroup | null;
  #calls: PointToPointCalls | null = null;
  readonly #rooted: RootedOps;
  readonly #exchange: ExchangeOps;
  /** Made with a group (split/dup): not the world of its message layer. */
  readonly #derived: boolean;

  /**
   * `group`: this communicator's place in its world's message layer (split/dup results pass theirs);
   * without it the communicator is the world: context 0, members [0, …, size-1].
   */
  constructor(backend: Backend, group?: MessageGroup) {
    this.#backend = backend;
    this.#derived = group !== undefined;
    this.#group = group ?? null;
    const host: RootedHost = {
      rank: backend.rank,
      size: backend.size,
      backend,
      messageGroup: () => this.messageGroup,
      checkOpen: (operation) => this.#checkOpen(operation),
      schedule: (operation, body) => this.#schedule(operation, body, undefined as never),
      refuse: (operation, error) => this.#rejectEverywhere(operation, error),
      abandon: (operation, error) => this.#abandonNow(operation, error),
    };
    this.#rooted = new RootedOps(host);
    this.#exchange = new ExchangeOps(host);
  }

  /**
   * This communicator's contexts and world ranks in its world's message layer (internal: collectives
   * on messages, split/dup). The world's is made, and its channel attached, on first use.
   */
  get messageGroup(): MessageGroup {
    if (this.#group === null) {
      const { channel, rank, size } = this.#backend;
      this.#group = {
        layer: messageLayerFor(channel, rank, size),
        context: 0,
        members: Array.from({ length: size }, (_, r) => r),
      };
    }
    return this.#group;
  }

  get #messages(): PointToPointCalls {
    this.#calls ??= new PointToPointCalls(this.messageGroup, {
      rank: this.#backend.rank,
      size: this.#backend.size,
      backend: this.#backend.name,
      checkOpen: (operation) => this.#checkOpen(operation),
    });
    return this.#calls;
  }

  // ---- point-to-point (spec §10): straight to the message layer, not queued behind collectives ----
  send<T extends NumericArray>(buf: T, dest: number, tag?: number): Promise<void> {
    return this.#messages.send(buf, dest, tag);
  }
  recv<T extends NumericArray>(
    buf: T | NumericArrayConstructor<T>,
    source?: number,
    tag?: number,
  ): Promise<RecvResult<T>> {
    return this.#messages.recv(buf, source, tag);
  }
  sendrecv<T extends NumericArray, U extends NumericArray>(
    send: T,
    dest: number,
    recv: U | NumericArrayConstructor<U>,
    source?: number,
    options?: SendrecvOptions,
  ): Promise<RecvResult<U>> {
    return this.#messages.sendrecv(send, dest, recv, source, options);
  }
  probe(source?: number, tag?: number): Promise<MessageStatus> {
    return this.#messages.probe(source, tag);
  }
  iprobe(source?: number, tag?: number): MessageStatus | null {
    return this.#messages.iprobe(source, tag);
  }
  sendObject(value: unknown, dest: number, tag?: number): Promise<void> {
    return this.#messages.sendObject(value, dest, tag);
  }
  recvObject<V = unknown>(source?: number, tag?: number): Promise<RecvObjectResult<V>> {
    return this.#messages.recvObject<V>(source, tag);
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
    let shape = this.#allreduceShape;
    let out: T;
    if (shape !== null && shape.matches(send, op, recv)) {
      // The same arrays, lengths and op as a call that passed every check (call-shape.ts says why
      // that is enough); a closed communicator is still refused by #checkOpen.
      if (this.#closed) return Promise.reject(this.#closedError(operation));
      if (recv === undefined) {
        try {
          out = allocate<T>(operation, shape.dtype, send.length);
        } catch (error) {
          return this.#rejectEverywhere(operation, error);
        }
      } else out = recv;
    } else {
      try {
        this.#checkOpen(operation);
        const dtype = checkBuffer(operation, 'send', send);
        checkOp(operation, op);
        if (recv !== undefined) {
          checkRecv(operation, dtype, recv, send.length);
          checkApartOrSame(operation, send, recv);
        }
        out = recv ?? allocate<T>(operation, dtype, send.length);
        const fp = this.#allreduceFps.get(dtype.name, send.length, op, -1);
        shape = new AllreduceShape(send, op, recv, dtype, fp);
        this.#allreduceShape = rememberable(send) && rememberable(recv) ? shape : null;
      } catch (error) {
        return this.#rejectEverywhere(operation, error);
      }
    }
    const fp = shape.fp;
    if (!this.#busy) {
      // Idle: start now, without the closure a queued call needs (its buffers cannot have changed).
      this.#busy = true;
      let pending: Promise<void> | void;
      try {
        pending = this.#backend.allreduce(fp, send, out, op);
      } catch (error) {
        this.#next();
        return Promise.reject(error);
      }
      return this.#complete(pending, out);
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
    let shape = this.#broadcastShape;
    if (shape !== null && shape.matches(buf, root)) {
      // As allreduce: the same array, length and root as a call that passed every check.
      if (this.#closed) return Promise.reject(this.#closedError(operation));
    } else {
      try {
        this.#checkOpen(operation);
        const dtype = checkBuffer(operation, 'buf', buf);
        checkRoot(operation, root, this.size);
        shape = new BroadcastShape(buf, root, this.#broadcastFps.get(dtype.name, buf.length, null, root));
        this.#broadcastShape = rememberable(buf) ? shape : null;
      } catch (error) {
        return this.#rejectEverywhere(operation, error);
      }
    }
    const fp = shape.fp;
    if (!this.#busy) {
      this.#busy = true;
      let pending: Promise<void> | void;
      try {
        pending = this.#backend.broadcast(fp, buf, root);
      } catch (error) {
        this.#next();
        return Promise.reject(error);
      }
      return this.#complete(pending, buf);
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
    if (this.#closed) return Promise.reject(this.#closedError(operation));
    if (!this.#busy) {
      this.#busy = true;
      let pending: Promise<void> | void;
      try {
        pending = this.#backend.barrier(BARRIER_FINGERPRINT);
      } catch (error) {
        this.#next();
        return Promise.reject(error);
      }
      return this.#complete(pending, undefined);
    }
    return this.#schedule(operation, () => this.#backend.barrier(BARRIER_FINGERPRINT), undefined);
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

  // ---- collectives on messages (rooted/, spec §4.10–4.15) ----
  reduce<T extends NumericArray>(send: T, op?: ReduceOp, root?: number, recv?: T): Promise<T | null> {
    return this.#rooted.reduce(send, op, root, recv);
  }
  gather<T extends NumericArray>(send: T, root?: number, recv?: T): Promise<T | null> {
    return this.#rooted.gather(send, root, recv);
  }
  gatherv<T extends NumericArray>(send: T, root?: number, options?: GathervOptions<T>): Promise<T | null> {
    return this.#rooted.gatherv(send, root, options);
  }
  scatter<T extends NumericArray>(
    send: T | null,
    recv: T | NumericArrayConstructor<T>,
    root?: number,
  ): Promise<T> {
    return this.#rooted.scatter(send, recv, root);
  }
  scatterv<T extends NumericArray>(
    send: T | null,
    recv: T | NumericArrayConstructor<T>,
    root?: number,
    options?: ScattervOptions,
  ): Promise<T> {
    return this.#rooted.scatterv(send, recv, root, options);
  }
  reduceScatter<T extends NumericArray>(
    send: T,
    counts: ArrayLike<number>,
    op?: ReduceOp,
    recv?: T,
  ): Promise<T> {
    return this.#exchange.reduceScatter(send, counts, op, recv);
  }
  reduceScatterBlock<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T> {
    return this.#exchange.reduceScatterBlock(send, op, recv);
  }
  alltoall<T extends NumericArray>(send: T, recv?: T): Promise<T> {
    return this.#exchange.alltoall(send, recv);
  }
  alltoallv<T extends NumericArray>(
    send: T,
    sendCounts: ArrayLike<number>,
    options?: AlltoallvOptions<T>,
  ): Promise<T> {
    return this.#exchange.alltoallv(send, sendCounts, options);
  }
  scan<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T> {
    return this.#exchange.scan(send, op, recv);
  }
  exscan<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T> {
    return this.#exchange.exscan(send, op, recv);
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

  split(color: number | null | undefined, key: number = this.rank): Promise<Communicator | null> {
    return this.#derive({ operation: 'split', color, key });
  }

  dup(): Promise<Communicator> {
    return this.#derive({ operation: 'dup', color: 0, key: this.rank }) as Promise<Communicator>;
  }

  /** split/dup: one collective of this communicator (groups/split.ts, spec §11). */
  #derive(request: SplitRequest): Promise<Communicator | null> {
    const operation = request.operation;
    try {
      this.#checkOpen(operation);
    } catch (error) {
      return Promise.reject(error);
    }
    const group = this.messageGroup;
    return this.#schedule(
      operation,
      () => splitNow(this.#backend, group, request, (backend, g) => new CheckedCommunicator(backend, g)),
      null,
    );
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    // Nothing of the caller's stays reachable from a closed communicator.
    this.#allreduceShape = null;
    this.#broadcastShape = null;
    this.#settled = null;
    this.#settledValue = undefined;
    // Queued operations see #closed when they start and reject with InvalidCommunicator.
    for (const start of this.#queue.splice(0)) start();
    // A derived communicator shares its world's message layer: its own waiting receives and probes
    // end here (the world's end when its backend fails the channel). Only the point-to-point context:
    // a collective in flight keeps its messages running to their end in the background, so peers
    // are not left waiting on this rank's part (its backend's close, spec §11.5).
    const group = this.#group;
    if (this.#derived && group !== null) {
      group.layer.cancel([group.context], this.#closedError('close'));
    }
    this.#closing = this.#backend.close();
    return this.#closing;
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw this.#closedError(operation);
  }

  #closedError(operation: string): CommError {
    return new CommError(
      'InvalidCommunicator',
      operation,
      'the communicator is closed; call init() again on every rank to communicate again.',
      { rank: this.rank },
    );
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
    return this.#complete(pending, result);
  }

  /**
   * The collective started by #start (or an idle fast path) returned `pending`: its value, a
   * promise of it, or undefined for "the caller's result". A call that completed synchronously
   * returns an already-resolved promise: the one made for the previous such call when the result is
   * the same object (a loop over the same recv, or barrier's undefined), so no promise is allocated.
   */
  #complete<R>(pending: unknown, result: R): Promise<R> {
    if (!(pending instanceof Promise)) {
      const value = pending === undefined ? result : pending;
      let settled = this.#settled;
      if (value !== this.#settledValue || settled === null) {
        settled = this.#settled = Promise.resolve(value);
        this.#settledValue = value;
      }
      this.#next();
      return settled as Promise<R>;
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
