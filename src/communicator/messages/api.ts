/**
 * The point-to-point calls of a {@link Communicator} (spec/communicator.md §10): the public types.
 * The implementation is point-to-point.ts, over the message layer (engine.ts).
 */
import type { NumericArray, NumericArrayConstructor } from '../dtypes.js';

/**
 * What arrived (spec/communicator.md §10.2): the sender, its tag and the message's length. Ranks are
 * ranks of the communicator the call was made on.
 */
export interface MessageStatus {
  /** The sender's rank in this communicator, in `[0, size)` (never ANY_SOURCE). */
  readonly source: number;
  /** The sender's tag, in `[0, MAX_TAG]` (never ANY_TAG). */
  readonly tag: number;
  /**
   * The message's length: elements of its dtype for a buffer message, encoded bytes for an
   * object message (sendObject).
   */
  readonly count: number;
}

/**
 * What {@link PointToPoint.recv} and {@link PointToPoint.sendrecv} resolve to.
 *
 * @typeParam T - the typed array received into (the caller's buffer's type, or the constructor's).
 */
export interface RecvResult<T extends NumericArray> {
  /** The received elements: a view of the caller's buffer of exactly `status.count` elements, or a new array. */
  readonly data: T;
  /** Who sent it, with which tag, and how long it is. */
  readonly status: MessageStatus;
}

/**
 * What {@link PointToPoint.recvObject} resolves to.
 *
 * @typeParam V - the value's type, as the caller asserts it (not checked).
 */
export interface RecvObjectResult<V> {
  /** The decoded value (a copy, even for a message to self). */
  readonly value: V;
  /** Who sent it, with which tag; `count` is the encoded length in bytes. */
  readonly status: MessageStatus;
}

/** The tags of {@link PointToPoint.sendrecv}: each in `[0, MAX_TAG]`; recvTag may be ANY_TAG. */
export interface SendrecvOptions {
  /** The tag of the outgoing message; default 0. */
  sendTag?: number;
  /** The tag to receive; default ANY_TAG (-1). */
  recvTag?: number;
}

/**
 * Point-to-point messages between two ranks of a communicator (MPI-4.1 chapter 3;
 * spec/communicator.md §10). Unlike collectives they are not fingerprinted and not queued behind
 * the communicator's collectives: each call starts at once, and any number may be outstanding.
 *
 * Matching: a receive takes the first message (in arrival order) whose source and tag it names
 * (`ANY_SOURCE` / `ANY_TAG` match any); messages from one sender that a receive could match both
 * ways arrive in the order they were sent (non-overtaking, MPI-4.1 §3.5). Messages of this
 * communicator never match another communicator's (split/dup results have their own contexts).
 *
 * Errors: bad arguments reject only the calling rank's call (`InvalidArgument` naming the value and
 * the range), the communicator stays usable; a closed communicator gives `InvalidCommunicator`; a
 * peer that dies or closes gives `CollectiveFailed` to every waiting call; a call that waits longer
 * than the fatal timeout (`COLLECTIVE_TIMEOUT_SECS`) ends the group with `Timeout`, after stall
 * warnings `COLLECTIVE_STALL` naming what it waits for.
 */
export interface PointToPoint {
  /**
   * Sends the elements of `buf` to rank `dest` with `tag` (spec/communicator.md §10.1). Resolves
   * when `buf` may be reused: at once for a message of at most 64 KiB (it was copied), once the
   * receiver matched it and the bytes went out for a larger one — do not change `buf` before.
   * Sending to this rank itself is allowed (a larger self-send resolves when it is received).
   *
   * @typeParam T - the typed array sent.
   * @param buf - a numeric typed array of any dtype and length (subarrays allowed); the receiver
   *   must receive into the same dtype.
   * @param dest - the receiving rank, an integer in `[0, size)`.
   * @param tag - an integer in `[0, MAX_TAG]` (2^31 − 1); default 0.
   * @throws {@link CommError} `InvalidArgument` (not a numeric typed array, detached, bad dest or
   *   tag), `InvalidCommunicator` (closed), `CollectiveFailed`, `Timeout`.
   * @example
   * ```ts
   * if (comm.rank === 0) await comm.send(Float64Array.of(1, 2, 3), 1, 7);
   * if (comm.rank === 1) {
   *   const { data, status } = await comm.recv(Float64Array, 0, 7); // data: Float64Array [1, 2, 3]
   * }
   * ```
   */
  send<T extends NumericArray>(buf: T, dest: number, tag?: number): Promise<void>;
  /**
   * Receives the first matching message (spec/communicator.md §10.1).
   *
   * @typeParam T - the typed array received into.
   * @param buf - a numeric typed array to receive into, at least as long (in elements) as the
   *   message and of its dtype; or a typed array constructor (e.g. `Float64Array`): then a new
   *   array of exactly the message's length.
   * @param source - the sender's rank in `[0, size)`, or `ANY_SOURCE` (-1, the default).
   * @param tag - the tag in `[0, MAX_TAG]`, or `ANY_TAG` (-1, the default).
   * @returns `data`: `buf` itself when the message fills it exactly, else `buf.subarray(0, count)`
   *   (or the new array); `status`: source, tag and count (elements).
   * @throws {@link CommError} `InvalidBufferSize` (the message is longer than `buf`; the message is
   *   consumed, as in MPI), `InvalidArgument` (bad buf, source or tag; a message of another dtype
   *   or an object message — consumed), `AllocationFailed`, `InvalidCommunicator`,
   *   `CollectiveFailed`, `Timeout`.
   */
  recv<T extends NumericArray>(
    buf: T | NumericArrayConstructor<T>,
    source?: number,
    tag?: number,
  ): Promise<RecvResult<T>>;
  /**
   * Sends `send` to `dest` and receives into `recv` at the same time (spec/communicator.md §10.1):
   * two ranks that exchange with sendrecv never deadlock, whatever the message sizes.
   *
   * @typeParam T - the typed array sent.
   * @typeParam U - the typed array received into.
   * @param send - the outgoing elements (as {@link PointToPoint.send}).
   * @param dest - the receiving rank, in `[0, size)`.
   * @param recv - a buffer or constructor (as {@link PointToPoint.recv}).
   * @param source - the sender to receive from, in `[0, size)` or `ANY_SOURCE` (default).
   * @param options - `sendTag` (default 0) and `recvTag` (default `ANY_TAG`).
   * @returns what {@link PointToPoint.recv} returns; resolves once both the send and the receive completed.
   * @throws {@link CommError} as {@link PointToPoint.send} and {@link PointToPoint.recv}.
   * @example
   * ```ts
   * const right = (comm.rank + 1) % comm.size;
   * const left = (comm.rank + comm.size - 1) % comm.size;
   * const { data } = await comm.sendrecv(Int32Array.of(comm.rank), right, Int32Array, left); // [left]
   * ```
   */
  sendrecv<T extends NumericArray, U extends NumericArray>(
    send: T,
    dest: number,
    recv: U | NumericArrayConstructor<U>,
    source?: number,
    options?: SendrecvOptions,
  ): Promise<RecvResult<U>>;
  /**
   * Waits for a message that {@link recv} with the same source and tag would receive, and
   * describes it without receiving it (spec/communicator.md §10.4): allocate, then recv with
   * `status.source` and `status.tag`.
   *
   * @param source - in `[0, size)` or `ANY_SOURCE` (default).
   * @param tag - in `[0, MAX_TAG]` or `ANY_TAG` (default).
   * @returns the message's status (count in elements of its dtype, or bytes for an object).
   * @throws {@link CommError} `InvalidArgument`, `InvalidCommunicator`, `CollectiveFailed`, `Timeout`.
   */
  probe(source?: number, tag?: number): Promise<MessageStatus>;
  /**
   * As {@link probe}, without waiting: the status of a matching message that has arrived, or null.
   *
   * @param source - in `[0, size)` or `ANY_SOURCE` (default).
   * @param tag - in `[0, MAX_TAG]` or `ANY_TAG` (default).
   * @throws {@link CommError} `InvalidArgument`, `InvalidCommunicator` (thrown, not rejected), or
   *   the group's failure.
   */
  iprobe(source?: number, tag?: number): MessageStatus | null;
  /**
   * Sends any MessagePack-encodable value (encoded as `allgather` encodes, §4.6) to
   * `dest` (spec/communicator.md §10.1). Receive it with {@link recvObject}.
   *
   * @param value - the value; encoded now, so it may change once the call returns.
   * @param dest - in `[0, size)`.
   * @param tag - in `[0, MAX_TAG]`; default 0.
   * @throws {@link CommError} `InvalidArgument` (the value cannot travel: `details.path`; bad dest
   *   or tag), `InvalidCommunicator`, `CollectiveFailed`, `Timeout`.
   */
  sendObject(value: unknown, dest: number, tag?: number): Promise<void>;
  /**
   * Receives an object message (sent with {@link sendObject}) and decodes it.
   *
   * @typeParam V - the value's type (not checked).
   * @param source - in `[0, size)` or `ANY_SOURCE` (default).
   * @param tag - in `[0, MAX_TAG]` or `ANY_TAG` (default).
   * @returns the value and its status (`count` in encoded bytes).
   * @throws {@link CommError} `InvalidArgument` (bad source or tag; the matched message is a buffer
   *   message — consumed), `AllocationFailed`, `InvalidCommunicator`, `CollectiveFailed`, `Timeout`.
   * @example
   * ```ts
   * if (comm.rank === 0) await comm.sendObject({ step: 3, loss: 0.25 }, 1);
   * if (comm.rank === 1) {
   *   const { value } = await comm.recvObject<{ step: number; loss: number }>(0);
   * }
   * ```
   */
  recvObject<V = unknown>(source?: number, tag?: number): Promise<RecvObjectResult<V>>;
}
