/**
 * The message layer's interface (spec/communicator.md §10): matched, ordered messages between the
 * ranks of a world over its {@link PairChannel}. One layer per world backend; every communicator of
 * that world (the world itself, split and dup results) uses it with its own context ids, so their
 * messages never match each other's.
 *
 * This file is the contract between the pieces built on it (point-to-point calls, collectives on
 * messages, group communicators); the implementation is in engine.ts.
 */
import type { PointToPoint } from './api.js';

/**
 * The `source` of {@link PointToPoint.recv}, `probe`, `iprobe`, `recvObject` and `sendrecv` that
 * matches a message from any rank (MPI_ANY_SOURCE; spec/communicator.md §10.3). The value is -1;
 * `status.source` then says who sent it.
 */
export const ANY_SOURCE = -1;
/**
 * The `tag` of a receive or probe that matches any tag (MPI_ANY_TAG; spec/communicator.md §10.3).
 * The value is -1; `status.tag` then says which tag the message had. Not valid for a send.
 */
export const ANY_TAG = -1;
/**
 * The largest tag of a point-to-point message: tags are integers in `[0, MAX_TAG]`, i.e. up to
 * 2^31 − 1 (MPI guarantees at least 32767); others give `InvalidArgument` (spec/communicator.md §10.1).
 */
export const MAX_TAG = 0x7fff_ffff;
/** The payload kind of an object message (sendObject); buffer messages carry their dtype's code 0–10. */
export const OBJECT_KIND = 255;

/** What a matched (or probed) message is, before its payload is placed. Ranks are world ranks. */
export interface Envelope {
  /** The sender, a world rank. */
  readonly source: number;
  /** The sender's tag, in [0, MAX_TAG] for user messages (collectives use their own context). */
  readonly tag: number;
  /** The payload kind: a dtype code (dtypes.ts) or {@link OBJECT_KIND}. */
  readonly kind: number;
  /** The payload's length in bytes. */
  readonly bytes: number;
}

/**
 * Where a matched message's payload goes: called once, at match time, with the envelope. Returns a
 * view of at least `envelope.bytes` bytes to receive into, or throws a CommError (e.g. truncation:
 * the message is longer than the caller's buffer) — then the receive rejects with it and the message
 * is consumed, as in MPI.
 */
export type Placement = (envelope: Envelope) => Uint8Array;

/**
 * Matched messages in one world. Contexts are 32-bit ids agreed by the communicators (the world's
 * point-to-point context is 0, its collectives' context 1; derived communicators take fresh ones).
 * Within a context, messages from one source to one destination that a receive could match both
 * ways are received in the order they were sent (MPI's non-overtaking rule, MPI-4.1 §3.5).
 */
export interface MessageLayer {
  /** This process's world rank. */
  readonly rank: number;
  /** The world's size. */
  readonly size: number;
  /**
   * Sends `payload` to world rank `dest` (may be this rank). Resolves when `payload` may be reused:
   * at once for a message below the eager threshold (it was copied), after the receiver matched it
   * and the bytes were posted for a larger one (rendezvous). Rejects with the group's failure.
   * `describe` names the send in stall warnings and the Timeout error of a rendezvous send that
   * waits for its receiver (e.g. "send to rank 3, tag 7"); a default names world ranks.
   */
  send(
    context: number,
    dest: number,
    tag: number,
    kind: number,
    payload: Uint8Array,
    describe?: string,
  ): Promise<void>;
  /**
   * Receives the first message in `context` from `source` (or {@link ANY_SOURCE}) with `tag` (or
   * {@link ANY_TAG}), in arrival order; `place` says where its payload goes. Resolves with the
   * envelope once the payload is in place. Receives posted earlier match first. `describe` names
   * what is waited for in stall warnings and the Timeout error (e.g. "recv from rank 3, tag 7").
   */
  recv(context: number, source: number, tag: number, place: Placement, describe: string): Promise<Envelope>;
  /** Waits for a message that recv(context, source, tag) would match and returns its envelope, without receiving it. */
  probe(context: number, source: number, tag: number, describe: string): Promise<Envelope>;
  /** The envelope a recv would match now, or null (never waits). */
  iprobe(context: number, source: number, tag: number): Envelope | null;
  /**
   * A communicator of this world closed (split/dup results; the world's own close fails the channel
   * instead): every receive and probe of this rank in one of `contexts` that has not matched a
   * message rejects with `error`, and messages that arrived unreceived in them are dropped (a large
   * one's sender is released without sending its data). As MPI_Comm_free: sends, and receives whose
   * data is already on its way, complete normally. Other contexts are untouched.
   */
  cancel(contexts: readonly number[], error: unknown): void;
}

/** The world communicator's point-to-point context (its collectives use 1). */
export const WORLD_CONTEXT = 0;
/**
 * The context of the node communicator that `splitLocal()` returns where it is the whole world over
 * the same channel (shm); its collectives use 3. Every such communicator of one world shares it.
 */
export const NODE_CONTEXT = 2;
/** The first context id split() and dup() may agree on: 0–3 belong to the world and its node communicator. */
export const FIRST_DERIVED_CONTEXT = 4;

/**
 * A communicator's place in its world's message layer: which context ids it owns and which world
 * rank each of its ranks is. The world communicator is `{ context: 0, members: [0, 1, …, size-1] }`;
 * split() and dup() results get fresh contexts agreed by their members.
 */
export interface MessageGroup {
  readonly layer: MessageLayer;
  /** The context of this communicator's point-to-point messages (even); its collectives use `context + 1`. */
  readonly context: number;
  /** The world rank of each rank of this communicator, indexed by its rank here. */
  readonly members: readonly number[];
}
