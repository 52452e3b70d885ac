/**
 * The public contract of the collectives on messages (spec/communicator.md §4.10–4.15): rooted
 * (reduce, gather, gatherv, scatter, scatterv), personalised (reduceScatter, reduceScatterBlock,
 * alltoall, alltoallv) and prefix (scan, exscan) collectives. {@link Communicator} extends it.
 */
import type { NumericArray, NumericArrayConstructor, ReduceOp } from '../dtypes.js';

/**
 * The layout and destination of {@link RootedCollectives.gatherv} (spec/communicator.md §4.11).
 * Counts and offsets are in elements of the send dtype, not bytes.
 *
 * @typeParam T - the typed array of `send` and `recv`.
 */
export interface GathervOptions<T extends NumericArray> {
  /**
   * Elements each rank sends: `size` non-negative integers with `counts[rank] === send.length`
   * (else `InvalidBufferSize`). Optional on every rank: the counts are always learnt from the
   * senders, and a rank that passes them must pass the true ones (else `CollectiveMismatch` on
   * every rank).
   */
  counts?: ArrayLike<number>;
  /**
   * Significant at the root only: where rank r's block starts in recv, in elements; packed in rank
   * order when omitted. Only together with `counts`; blocks must not overlap (`InvalidArgument`).
   */
  displs?: ArrayLike<number>;
  /**
   * Significant at the root only: where to gather, the send dtype, at least `max(displs[r] +
   * counts[r])` elements, sharing no bytes with `send`; elements outside every block are left as
   * they were. A new array of exactly that extent when omitted.
   */
  recv?: T;
}

/**
 * The layout of {@link RootedCollectives.scatterv} (spec/communicator.md §4.12), in elements.
 */
export interface ScattervOptions {
  /**
   * Elements rank r receives: `size` non-negative integers. Required at the root
   * (`InvalidArgument` without); optional elsewhere, where given they must equal the root's
   * (`CollectiveMismatch` on every rank).
   */
  counts?: ArrayLike<number>;
  /**
   * Significant at the root only: where rank r's block starts in the root's send, in elements;
   * packed in rank order when omitted. Blocks may overlap; each must lie within send
   * (`InvalidBufferSize`).
   */
  displs?: ArrayLike<number>;
}

/**
 * The layout and destination of {@link RootedCollectives.alltoallv} (spec/communicator.md §4.14),
 * in elements.
 *
 * @typeParam T - the typed array of `send` and `recv`.
 */
export interface AlltoallvOptions<T extends NumericArray> {
  /** Where the block for rank j starts in send; packed in rank order when omitted. Each block lies within send. */
  sendDispls?: ArrayLike<number>;
  /**
   * Elements this rank receives from rank i; learnt from the senders when omitted. Where given,
   * `recvCounts[i]` must equal rank i's `sendCounts[rank]` (`InvalidBufferSize` on every rank).
   */
  recvCounts?: ArrayLike<number>;
  /** Where rank i's block starts in recv; packed when omitted; only with `recvCounts`; no overlaps. */
  recvDispls?: ArrayLike<number>;
  /**
   * Where to receive: the send dtype, at least `max(recvDispls[i] + recvCounts[i])` elements,
   * sharing no bytes with send (not in place). A new array of exactly that extent when omitted.
   */
  recv?: T;
}

/**
 * Rooted, personalised and prefix collectives (MPI's MPI_Reduce … MPI_Exscan), carried by the
 * message layer (spec/communicator.md §4.10). Like every collective they are fingerprinted and run
 * in call order: every rank calls the same one with agreeing dtype, counts, op and root, or every
 * rank rejects with `CollectiveMismatch`; bad arguments on one rank reject on every rank with that
 * rank's code (`details.invalidRanks`). Reductions fold in rank order with the allreduce kernel, so
 * `reduce` at its root, each `reduceScatter` block and the last rank's `scan` are bit-for-bit the
 * corresponding part of `allreduce`'s result.
 */
export interface RootedCollectives {
  /**
   * Combines `send` element-wise across all ranks with `op` in rank order (`x0 ∘ x1 ∘ … ∘
   * x[size-1]`) and gives the result to `root` only (spec/communicator.md §4.10). The root's result
   * is bit-for-bit `allreduce(send, op)`'s.
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - this rank's contribution, the same dtype and length (elements) on every rank.
   * @param op - `'sum'` (default), `'prod'`, `'min'` or `'max'`, the same on every rank.
   * @param root - the rank that gets the result, an integer in `[0, size)`, the same everywhere; default 0.
   * @param recv - significant at the root only: `send.length` elements of `send`'s dtype, `send`
   *   itself (in place) or sharing none of its bytes; a new array when omitted. Ignored elsewhere.
   * @returns on the root, `recv` (or the new array) holding the reduction; `null` on every other rank.
   * @throws {@link CommError} `InvalidArgument` (not a numeric typed array, unknown op, the root's
   *   recv of another dtype or partly overlapping send), `InvalidRoot`, `InvalidBufferSize` (the
   *   root's recv length ≠ send.length), `AllocationFailed`, `CollectiveMismatch` (dtype, length, op
   *   or root differ), `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const total = await comm.reduce(Float64Array.of(localLoss), 'sum', 0);
   * if (comm.rank === 0) console.log('loss', total![0]); // null on the other ranks
   * ```
   */
  reduce<T extends NumericArray>(send: T, op?: ReduceOp, root?: number, recv?: T): Promise<T | null>;
  /**
   * Gathers equal blocks from every rank at `root`, rank r's at `r * send.length`
   * (spec/communicator.md §4.11).
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - this rank's block, the same dtype and length (k elements) on every rank.
   * @param root - the gathering rank, in `[0, size)`, the same everywhere; default 0.
   * @param recv - significant at the root only: `size * k` elements of `send`'s dtype, sharing no
   *   bytes with send except that send may be exactly the root's own block of recv; a new array
   *   when omitted.
   * @returns on the root, the `size * k` gathered elements; `null` elsewhere.
   * @throws {@link CommError} `InvalidArgument`, `InvalidRoot`, `InvalidBufferSize` (the root's recv
   *   length ≠ size·k), `AllocationFailed`, `CollectiveMismatch` (dtype, k or root differ),
   *   `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const all = await comm.gather(Int32Array.of(comm.rank * 10), 0); // root: [0, 10, 20, …]
   * ```
   */
  gather<T extends NumericArray>(send: T, root?: number, recv?: T): Promise<T | null>;
  /**
   * Gathers blocks of any length at `root`, rank r's at `displs[r]` (packed in rank order by
   * default) (spec/communicator.md §4.11). The counts are learnt from the senders (one extra round
   * inside the call), so only the root needs a layout, and only when it is not packed.
   *
   * @typeParam T - the typed array of `send` and the result.
   * @param send - this rank's block: the same dtype on every rank, any length (elements).
   * @param root - the gathering rank, in `[0, size)`, the same everywhere; default 0.
   * @param options - `counts`, `displs` and `recv`; see {@link GathervOptions}.
   * @returns on the root, `options.recv` or a new array of length `max(displs[r] + counts[r])`;
   *   `null` elsewhere.
   * @throws {@link CommError} `InvalidArgument` (bad send/recv/counts/displs, overlapping blocks),
   *   `InvalidRoot`, `InvalidBufferSize` (`counts[rank] !== send.length`, the root's recv too short),
   *   `AllocationFailed`, `CollectiveMismatch` (dtype, root or given counts disagree),
   *   `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const mine = new Float64Array(comm.rank + 1).fill(comm.rank);
   * const all = await comm.gatherv(mine, 0); // root: [0, 1, 1, 2, 2, 2, …]
   * ```
   */
  gatherv<T extends NumericArray>(send: T, root?: number, options?: GathervOptions<T>): Promise<T | null>;
  /**
   * Splits the root's `send` into `size` equal blocks and gives block r to rank r
   * (spec/communicator.md §4.12). The block length k is the root's `send.length / size`, learnt by
   * every rank (one extra round inside the call).
   *
   * @typeParam T - the typed array of the root's `send` and of the result.
   * @param send - significant at the root only: `size * k` elements; elsewhere ignored (pass `null`).
   * @param recv - where this rank's block goes: an array of k elements of the root's dtype, or a
   *   typed array constructor (e.g. `Float64Array`) for a new array of k elements. The root's
   *   must share no bytes with its send.
   * @param root - the scattering rank, in `[0, size)`, the same everywhere; default 0.
   * @returns `recv` or the new array, holding block `rank` of the root's send.
   * @throws {@link CommError} `InvalidArgument` (no send at the root, not a typed array or
   *   constructor, recv overlapping the root's send), `InvalidRoot`, `InvalidBufferSize` (the root's
   *   send length not a multiple of size, a recv length ≠ k), `AllocationFailed`,
   *   `CollectiveMismatch` (dtype or root differ), `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const work = comm.rank === 0 ? Float64Array.from({ length: 4 * comm.size }, (_, i) => i) : null;
   * const mine = await comm.scatter(work, Float64Array, 0); // 4 elements on every rank
   * ```
   */
  scatter<T extends NumericArray>(
    send: T | null,
    recv: T | NumericArrayConstructor<T>,
    root?: number,
  ): Promise<T>;
  /**
   * Gives rank r the block of `counts[r]` elements at `displs[r]` of the root's `send`
   * (spec/communicator.md §4.12). The root's counts reach every rank (one extra round inside the
   * call), so the other ranks need none.
   *
   * @typeParam T - the typed array of the root's `send` and of the result.
   * @param send - significant at the root only: holds every block; elsewhere ignored (`null`).
   * @param recv - an array of exactly `counts[rank]` elements of the root's dtype, or a constructor
   *   for a new one.
   * @param root - the scattering rank, in `[0, size)`, the same everywhere; default 0.
   * @param options - `counts` (required at the root) and `displs`; see {@link ScattervOptions}.
   * @returns `recv` or the new array, holding this rank's block.
   * @throws {@link CommError} `InvalidArgument` (no send or no counts at the root, bad counts or
   *   displs, recv overlapping the root's send), `InvalidRoot`, `InvalidBufferSize` (a block beyond
   *   the root's send, a recv length ≠ counts[rank]), `AllocationFailed`, `CollectiveMismatch`
   *   (dtype, root or given counts differ), `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const counts = Array.from({ length: comm.size }, (_, r) => r + 1);
   * const rows = comm.rank === 0 ? new Int32Array(counts.reduce((a, b) => a + b)) : null;
   * const mine = await comm.scatterv(rows, Int32Array, 0, { counts }); // rank r gets r+1 elements
   * ```
   */
  scatterv<T extends NumericArray>(
    send: T | null,
    recv: T | NumericArrayConstructor<T>,
    root?: number,
    options?: ScattervOptions,
  ): Promise<T>;
  /**
   * Reduces `send` element-wise across ranks in rank order and gives rank r the block of
   * `counts[r]` elements that starts at `counts[0] + … + counts[r-1]` (spec/communicator.md §4.13),
   * bit-for-bit that slice of `allreduce(send, op)`.
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - `Σ counts` elements, the same dtype on every rank.
   * @param counts - `size` non-negative integers, the same on every rank.
   * @param op - `'sum'` (default), `'prod'`, `'min'` or `'max'`, the same everywhere.
   * @param recv - `counts[rank]` elements of send's dtype, sharing no bytes with send; new when omitted.
   * @returns `recv` or the new array, holding this rank's block of the reduction.
   * @throws {@link CommError} `InvalidArgument` (bad send, counts, op or recv), `InvalidBufferSize`
   *   (`Σ counts ≠ send.length`, recv length ≠ counts[rank]), `AllocationFailed`,
   *   `CollectiveMismatch` (dtype, length, counts or op differ), `CollectiveFailed`, `Timeout`,
   *   `InvalidCommunicator`.
   * @example
   * ```ts
   * const grad = new Float32Array(1000); // every rank's full gradient
   * const counts = Array.from({ length: comm.size }, (_, r) => (r < 1000 % comm.size ? 1 : 0) + Math.floor(1000 / comm.size));
   * const myShard = await comm.reduceScatter(grad, counts); // this rank's summed slice
   * ```
   */
  reduceScatter<T extends NumericArray>(
    send: T,
    counts: ArrayLike<number>,
    op?: ReduceOp,
    recv?: T,
  ): Promise<T>;
  /**
   * {@link reduceScatter} with equal blocks: rank r gets elements `[r*k, (r+1)*k)` of the rank-order
   * reduction, `k = send.length / size` (spec/communicator.md §4.13).
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - `size * k` elements, the same dtype and length on every rank.
   * @param op - `'sum'` (default), `'prod'`, `'min'` or `'max'`, the same everywhere.
   * @param recv - k elements of send's dtype, sharing no bytes with send; new when omitted.
   * @returns `recv` or the new array.
   * @throws {@link CommError} `InvalidArgument`, `InvalidBufferSize` (send length not a multiple of
   *   size, recv length ≠ k), `AllocationFailed`, `CollectiveMismatch`, `CollectiveFailed`,
   *   `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const shard = await comm.reduceScatterBlock(new Float64Array(4 * comm.size).fill(1)); // [size ×4]
   * ```
   */
  reduceScatterBlock<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T>;
  /**
   * Personalised exchange of equal blocks: block j of this rank's `send` goes to rank j, and rank
   * i's block j lands at `recv[i*k, (i+1)*k)` (spec/communicator.md §4.14), `k = send.length / size`.
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - `size * k` elements, the same dtype and length on every rank.
   * @param recv - `send.length` elements of send's dtype: `send` itself (in place; one copy of send
   *   is made) or sharing none of its bytes; new when omitted.
   * @returns `recv` or the new array.
   * @throws {@link CommError} `InvalidArgument`, `InvalidBufferSize` (send length not a multiple of
   *   size, recv length ≠ send.length), `AllocationFailed`, `CollectiveMismatch` (dtype or length
   *   differ), `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * const out = Int32Array.from({ length: comm.size }, (_, j) => comm.rank * 100 + j);
   * const got = await comm.alltoall(out); // got[i] = i * 100 + rank
   * ```
   */
  alltoall<T extends NumericArray>(send: T, recv?: T): Promise<T>;
  /**
   * Personalised exchange of blocks of any length: `sendCounts[j]` elements at `sendDispls[j]` go
   * to rank j, and rank i's block lands at `recvDispls[i]` (spec/communicator.md §4.14). Every
   * rank's send counts are learnt by all (one extra round inside the call), so `recvCounts` is
   * optional.
   *
   * @typeParam T - the typed array of `send` and the result.
   * @param send - every outgoing block; the same dtype on every rank.
   * @param sendCounts - `size` non-negative integers: elements for each rank.
   * @param options - `sendDispls`, `recvCounts`, `recvDispls`, `recv`; see {@link AlltoallvOptions}.
   * @returns `options.recv` or a new array of length `max(recvDispls[i] + recvCounts[i])`.
   * @throws {@link CommError} `InvalidArgument` (bad counts or displs, overlapping receive blocks,
   *   recv sharing bytes with send), `InvalidBufferSize` (a send block beyond send, recvCounts not
   *   what the senders send, recv too short), `AllocationFailed`, `CollectiveMismatch` (dtype
   *   differs), `CollectiveFailed`, `Timeout`, `InvalidCommunicator`.
   * @example
   * ```ts
   * // Rank r sends j+1 copies of r to rank j.
   * const sendCounts = Array.from({ length: comm.size }, (_, j) => j + 1);
   * const send = new Float64Array(sendCounts.reduce((a, b) => a + b)).fill(comm.rank);
   * const got = await comm.alltoallv(send, sendCounts); // (rank+1) copies of each source, in rank order
   * ```
   */
  alltoallv<T extends NumericArray>(
    send: T,
    sendCounts: ArrayLike<number>,
    options?: AlltoallvOptions<T>,
  ): Promise<T>;
  /**
   * Inclusive prefix reduction: rank r gets `x0 ∘ x1 ∘ … ∘ xr` element-wise, folded left in rank
   * order (a chain: r receives r-1's prefix, folds its own, passes it on), so the last rank's
   * result is bit-for-bit `allreduce`'s (spec/communicator.md §4.15).
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - the same dtype and length (elements) on every rank.
   * @param op - `'sum'` (default), `'prod'`, `'min'` or `'max'`, the same everywhere.
   * @param recv - `send.length` elements of send's dtype, `send` itself (in place) or sharing none
   *   of its bytes; new when omitted.
   * @returns `recv` or the new array.
   * @throws {@link CommError} `InvalidArgument`, `InvalidBufferSize` (recv length), `AllocationFailed`,
   *   `CollectiveMismatch` (dtype, length or op differ), `CollectiveFailed`, `Timeout`,
   *   `InvalidCommunicator`.
   * @example
   * ```ts
   * const offset = await comm.scan(Int32Array.of(myCount)); // myCount summed over ranks 0..rank
   * ```
   */
  scan<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T>;
  /**
   * Exclusive prefix reduction: rank r > 0 gets `x0 ∘ … ∘ x[r-1]`, folded left in rank order
   * (spec/communicator.md §4.15). Rank 0 receives nothing: its `recv` is returned unchanged, or,
   * when omitted, a new zero-filled array.
   *
   * @typeParam T - the typed array of `send` and `recv`.
   * @param send - the same dtype and length (elements) on every rank.
   * @param op - `'sum'` (default), `'prod'`, `'min'` or `'max'`, the same everywhere.
   * @param recv - `send.length` elements of send's dtype, `send` itself (in place) or sharing none
   *   of its bytes; new when omitted.
   * @returns `recv` or the new array.
   * @throws {@link CommError} as {@link scan}.
   * @example
   * ```ts
   * const start = await comm.exscan(Float64Array.of(myRows)); // rows on ranks before this one; 0 on rank 0
   * ```
   */
  exscan<T extends NumericArray>(send: T, op?: ReduceOp, recv?: T): Promise<T>;
}
