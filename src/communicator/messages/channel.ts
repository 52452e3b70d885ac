/**
 * The pair channel: what a backend gives the message layer (spec/communicator.md §10). Gloo's
 * `transport::Pair` in our terms — an ordered, reliable stream of frames between this rank and each
 * other rank of the world. Everything above it (matching by source and tag, MPI's non-overtaking
 * rule, eager and rendezvous, point-to-point calls, the collectives built on messages, split/dup
 * communicators) lives in src/communicator/messages/ and is written once for every backend.
 *
 * A frame is a small header (at most {@link MAX_HEADER_BYTES}, encoded by the message layer) and a
 * payload of any length. The backend never looks inside either.
 */
import type { CommError } from '../errors.js';

/** The largest header the message layer ever posts, in bytes. */
export const MAX_HEADER_BYTES = 64;

/**
 * Receives the frames that arrive on a channel. Called in order per source: frames that one rank
 * posted to this rank arrive in the order it posted them. `header` and `payload` are views valid
 * only during the call (they may point into a ring buffer or a socket's read buffer): the sink
 * copies what it keeps. A sink never throws; it never calls back into the channel synchronously
 * except {@link PairChannel.post}.
 */
export type FrameSink = (source: number, header: Uint8Array, payload: Uint8Array) => void;

/**
 * Where a frame's payload may be written as its pieces arrive, asked once when a frame of `bytes`
 * bytes begins to arrive from `source`: a view of exactly `bytes` bytes (a matched receive's buffer:
 * the rendezvous DATA of spec/communicator.md §10.5), or null — then the channel assembles the payload
 * itself. A channel that receives a frame in pieces may ask; the frame is then delivered to the sink
 * with that very view as its payload. Never throws.
 */
/**
 * World rank `source` left in order (it closed its communicator, or its process ended, after every
 * frame it sent had arrived), while the group goes on: receives and probes that name it, rendezvous
 * sends to it and messages of its still arriving can never complete, and fail with `error`; messages
 * it sent that already arrived can still be received. Optional: a channel whose group fails as a
 * whole when any rank leaves never calls it.
 */
export type FrameDeparture = (source: number, error: CommError) => void;

export type FramePlacement = (source: number, header: Uint8Array, bytes: number) => Uint8Array | null;

/**
 * Ordered, reliable frames to every other rank of the world (world ranks, never this rank: the
 * message layer delivers self-sends itself). One per backend instance; shared by every communicator
 * derived from it (split, dup), which tell their traffic apart by a context id in the header.
 */
export interface PairChannel {
  /**
   * Posts one frame to `dest` (0 ≤ dest < size, dest ≠ rank). Returns (or resolves) when `header`
   * and `payload` may be reused by the caller: copied into the transport, or written. Posting is
   * never refused for lack of space for long: a backend with a bounded ring waits (asynchronously)
   * for room. Rejects only with the group's failure (CollectiveFailed, InvalidCommunicator).
   */
  post(dest: number, header: Uint8Array, payload: Uint8Array): Promise<void> | void;
  /**
   * Called once by the message layer, before any post. From then on the backend calls `sink` for
   * each arriving frame, and `onFailure` once when the group fails (a peer died or closed, a
   * timeout ended the group, close()): the message layer rejects every pending operation with it.
   */
  attach(
    sink: FrameSink,
    onFailure: (error: CommError) => void,
    place?: FramePlacement,
    onDeparture?: FrameDeparture,
  ): void;
  /**
   * Optional: delivers, synchronously, every frame that has already arrived (calls the sink), and
   * says whether any did. A shared-memory backend implements it so that a receive can spin briefly
   * before it sleeps; a socket backend leaves it out (its frames arrive on the event loop).
   */
  poll?(): boolean;
  /**
   * Optional: waits until a frame may have arrived (or `ms` passed); then the message layer calls
   * poll(). For a backend that implements poll() and whose arrivals do not wake the event loop by
   * themselves (shared memory: Atomics.waitAsync on a doorbell).
   */
  waitForFrames?(ms: number): Promise<void>;
  /**
   * The message layer says whether an operation of it is waiting (a receive, a probe, a send not yet
   * matched). While true the backend keeps the process alive (refs its sockets, or a timer), as it
   * does during a collective; idle, its links do not hold the process open.
   */
  setActive(active: boolean): void;
  /** Seconds between stall warnings for a receive that waits (the backend's setting, spec/selection.md §3.1). */
  readonly stallWarningSecs: number;
  /** Seconds after which a receive that waits rejects with Timeout (the backend's fatal timeout). */
  readonly timeoutSecs: number;
  /** Ends the group on every rank with `error` (a receive's Timeout ends it as a collective's does, §7). */
  fail(error: CommError): void;
}
