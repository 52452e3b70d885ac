/**
 * The pair channel of a star rank (spec/backend-tcp.md §12): messages to every other rank over this
 * rank's links, relayed through rank 0 (issue 15's stated fallback until direct peer links exist). A
 * worker posts every message to rank 0 (MessageTo); rank 0 posts to a worker's link directly
 * (MessageFrom) and forwards the workers' messages (relay.ts). This class is the part both sides
 * share: posting with the backpressure rule, reassembling pieces, holding deliveries until the
 * message layer attaches, and reporting the group's failure once.
 */
import { CommError } from '../../communicator/errors.js';
import {
  MAX_HEADER_BYTES,
  type FrameDeparture,
  type FramePlacement,
  type FrameSink,
  type PairChannel,
} from '../../communicator/messages/channel.js';
import type { Connection } from './connection.js';
import { messageFrames } from './message-frames.js';
import { protocolError, Tag } from './protocol.js';

/**
 * post() of a message whose frames are all copied (at most 4 KiB each) returns at once while the
 * link holds at most this many bytes not yet taken by the transport; beyond it, and for any message
 * whose payload is queued by reference, it resolves once the transport has taken the message (§12.3).
 */
export const POST_QUEUE_BYTES = 1024 * 1024;

/**
 * How a message reaches `dest`: a connection, and whether rank 0 relays it (a worker's message to
 * another worker without a direct link: MessageTo naming dest) or it goes straight to dest
 * (MessageFrom naming this rank: rank 0's links, a worker's link to rank 0 or a direct link, §14).
 */
export interface Route {
  readonly connection: Connection;
  readonly relayed: boolean;
}

/** What a channel needs of its backend. */
export interface ChannelHost {
  /** How messages to `dest` travel, or why they cannot any more. */
  route(dest: number): Route | CommError;
  /** Refs (true) or unrefs the links as the message layer waits or not (spec §6.1). */
  keepAlive(active: boolean): void;
  /** Ends the group on every rank with `error` (§12.5). */
  endGroup(error: CommError): void;
}

interface Inbound {
  header: Uint8Array;
  payload: Uint8Array;
  filled: number;
}

export class StarChannel implements PairChannel {
  readonly stallWarningSecs: number;
  readonly timeoutSecs: number;
  #sink: FrameSink | null = null;
  #place: FramePlacement | null = null;
  #onDeparture: FrameDeparture | null = null;
  /** Departures reported before attach()'s early deliveries ran: reported after them, in order. */
  #earlyDepartures: Array<readonly [number, CommError]> = [];
  #onFailure: ((error: CommError) => void) | null = null;
  /** Messages that arrived before attach(), or before the deliveries attach() scheduled: in order, copied. */
  #early: Array<readonly [number, Uint8Array, Uint8Array]> | null = [];
  #failure: CommError | null = null;
  /** Per source: the message whose pieces are arriving. */
  readonly #inbound: Array<Inbound | null>;
  /** Rejections of posts waiting for the transport, run when the group fails. */
  readonly #waiting = new Set<(error: CommError) => void>();

  /**
   * @param pieceBytes payload bytes per frame (the star's chunkBytes).
   */
  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly pieceBytes: number,
    timeoutSecs: number,
    stallWarningSecs: number,
    private readonly host: ChannelHost,
  ) {
    this.timeoutSecs = timeoutSecs;
    this.stallWarningSecs = stallWarningSecs;
    this.#inbound = Array.from({ length: size }, () => null);
  }

  post(dest: number, header: Uint8Array, payload: Uint8Array): Promise<void> | void {
    if (this.#failure) return Promise.reject(this.#failure);
    if (!Number.isInteger(dest) || dest < 0 || dest >= this.size || dest === this.rank)
      throw internalError(`post to rank ${dest} (this is rank ${this.rank} of ${this.size})`);
    if (header.byteLength > MAX_HEADER_BYTES)
      throw internalError(`a header of ${header.byteLength} bytes (at most ${MAX_HEADER_BYTES})`);
    const route = this.host.route(dest);
    if (route instanceof CommError) return Promise.reject(route);
    const connection = route.connection;
    const frames = route.relayed
      ? messageFrames(Tag.MessageTo, dest, header, payload, this.pieceBytes)
      : messageFrames(Tag.MessageFrom, this.rank, header, payload, this.pieceBytes);
    // Every frame of the message in one write: pieces of one message are contiguous on the link.
    if (connection.writer.copies(frames) && connection.link.bufferedBytes <= POST_QUEUE_BYTES) {
      connection.sendAll(frames);
      return;
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.add(reject);
      connection.sendAll(frames, () => {
        if (this.#waiting.delete(reject)) resolve();
      });
    });
  }

  attach(
    sink: FrameSink,
    onFailure: (error: CommError) => void,
    place?: FramePlacement,
    onDeparture?: FrameDeparture,
  ): void {
    if (this.#sink) throw internalError('attach() called twice');
    this.#sink = sink;
    this.#place = place ?? null;
    this.#onDeparture = onDeparture ?? null;
    this.#onFailure = onFailure;
    // Deliveries that came first leave on a microtask, so the layer is set up before its sink runs;
    // messages arriving meanwhile queue behind them (per-source order holds).
    queueMicrotask(() => {
      const early = this.#early ?? [];
      this.#early = null;
      if (this.#failure === null) for (const [source, h, p] of early) sink(source, h, p);
      const departures = this.#earlyDepartures;
      this.#earlyDepartures = [];
      if (this.#failure === null) for (const [source, error] of departures) onDeparture?.(source, error);
      if (this.#failure) onFailure(this.#failure);
    });
  }

  setActive(active: boolean): void {
    this.host.keepAlive(active);
  }

  fail(error: CommError): void {
    this.host.endGroup(error);
  }

  /** A message's first frame from `source` (a valid rank ≠ this one). Throws ProtocolError on a broken sequence. */
  start(source: number, bytes: number, header: Uint8Array, piece: Uint8Array): void {
    if (this.#failure) return;
    if (this.#inbound[source])
      throw protocolError(
        'UNEXPECTED_FRAME',
        `a message from rank ${source} began before its previous one ended`,
      );
    if (piece.byteLength === bytes) {
      this.#deliver(source, header, piece);
      return;
    }
    // A matched receive's buffer when the layer has one (rendezvous DATA): no assembled copy, and
    // no fresh memory per message (§12.1). Not while early deliveries are still queued.
    const placed = this.#early === null ? (this.#place?.(source, header, bytes) ?? null) : null;
    let payload: Uint8Array;
    try {
      // Not zeroed: delivered only once every byte has been written (more()/placed()).
      payload = placed !== null && placed.byteLength === bytes ? placed : Buffer.allocUnsafe(bytes);
    } catch {
      throw protocolError(
        'BAD_PAYLOAD',
        `a message from rank ${source} announces ${bytes} bytes: cannot allocate them`,
      );
    }
    payload.set(piece, 0);
    this.#inbound[source] = { header: Uint8Array.from(header), payload, filled: piece.byteLength };
  }

  /**
   * Where the next piece of `source`'s message, `bytes` long, goes: a view of its buffer (the
   * reader writes it there, then the backend calls placed()), or null (no such message, or too many
   * bytes: the piece then comes to more(), which raises the protocol error).
   */
  placeFor(source: number, bytes: number): Uint8Array | null {
    const inbound = this.#failure ? null : this.#inbound[source];
    if (!inbound || inbound.filled + bytes > inbound.payload.byteLength) return null;
    return inbound.payload.subarray(inbound.filled, inbound.filled + bytes);
  }

  /** The piece placeFor(source, bytes) named has been written. */
  placed(source: number, bytes: number): void {
    const inbound = this.#inbound[source];
    if (!inbound || this.#failure) return;
    inbound.filled += bytes;
    this.#completeIfFull(source, inbound);
  }

  /** The next piece of the message from `source`. */
  more(source: number, piece: Uint8Array): void {
    if (this.#failure) return;
    const inbound = this.#inbound[source];
    if (!inbound)
      throw protocolError('UNEXPECTED_FRAME', `MessageMore from rank ${source} outside a message`);
    if (inbound.filled + piece.byteLength > inbound.payload.byteLength)
      throw protocolError('BAD_PAYLOAD', `more bytes from rank ${source} than its message announced`);
    inbound.payload.set(piece, inbound.filled);
    inbound.filled += piece.byteLength;
    this.#completeIfFull(source, inbound);
  }

  #completeIfFull(source: number, inbound: Inbound): void {
    if (inbound.filled < inbound.payload.byteLength) return;
    this.#inbound[source] = null;
    this.#deliver(source, inbound.header, inbound.payload);
  }

  /**
   * `source` left in order while the group goes on (its direct link ended cleanly, or rank 0 closed,
   * backend-tcp §14.4): every frame it sent has been delivered; the layer fails what waits for it.
   * A message of its only partly arrived means it did not leave in order: the group ends instead.
   */
  departed(source: number, error: CommError): void {
    if (this.#failure) return;
    if (this.#inbound[source]) {
      this.host.endGroup(
        new CommError('CollectiveFailed', 'message', `${error.message} (in the middle of a message)`, {
          rank: source,
        }),
      );
      return;
    }
    if (this.#early !== null) this.#earlyDepartures.push([source, error]);
    else this.#onDeparture?.(source, error);
  }

  /** The group failed (or this rank closed): once; pending posts reject, the layer hears of it. */
  failed(error: CommError): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#inbound.fill(null);
    for (const reject of [...this.#waiting]) reject(error);
    this.#waiting.clear();
    // Before the scheduled early deliveries, the microtask of attach() reports it.
    if (this.#onFailure && this.#early === null) this.#onFailure(error);
  }

  #deliver(source: number, header: Uint8Array, payload: Uint8Array): void {
    if (this.#early !== null) {
      this.#early.push([source, Uint8Array.from(header), Uint8Array.from(payload)]);
      return;
    }
    (this.#sink as FrameSink)(source, header, payload);
  }
}

function internalError(what: string): CommError {
  return new CommError('CollectiveFailed', 'send', `internal error: the star pair channel got ${what}`);
}
