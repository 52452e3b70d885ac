/**
 * The incremental frame parser (spec/backend-tcp.md §2), shaped like ws's lib/receiver.js: explicit
 * states, a consume(n) that slices instead of concatenating whenever the bytes lie in one chunk, and
 * the length limit checked on the header — before a single payload byte is buffered. No sockets: the
 * caller pushes whatever chunks arrive, split anywhere, and gets whole frames back in order.
 */
import {
  FRAME_HEADER_BYTES,
  isKnownTag,
  MIN_FRAME_LENGTH,
  protocolError,
  tagName,
  type ProtocolError,
} from './protocol.js';

/** `placed` is true when the payload was written straight into a destination the sink gave. */
export type FrameHandler = (tag: number, payload: Buffer, placed: boolean) => void;

/**
 * Asked on each header: a destination of exactly `payloadBytes` for this frame's payload, or null to
 * have it buffered. Lets a receiver parse array data straight into the caller's result (one copy).
 */
export type PayloadSink = (tag: number, payloadBytes: number) => Uint8Array | null;

/**
 * For frames whose payload starts with a fixed-size prefix that decides where the rest goes (a
 * message piece names its peer, spec §12.1): `prefixBytes(tag)` is that size (0: none), and once
 * those bytes are in, `sink(tag, prefix, restBytes)` names a destination of exactly `restBytes` for
 * the rest (the prefix is then dropped and onFrame gets the destination, placed), or null to have
 * the whole payload, prefix included, buffered as usual. `prefix` is valid only during the call.
 */
export interface PrefixSink {
  prefixBytes(tag: number): number;
  sink(tag: number, prefix: Buffer, restBytes: number): Uint8Array | null;
}

const EMPTY = Buffer.alloc(0);

const enum State {
  Header,
  /** Waiting for a prefixed frame's first #prefixBytes bytes (PrefixSink). */
  Prefix,
  Payload,
  PayloadIntoSink,
  Failed,
}

export class FrameReader {
  #state = State.Header;
  readonly #chunks: Buffer[] = [];
  #buffered = 0;
  #tag = 0;
  #payloadBytes = 0;
  #error: ProtocolError | null = null;
  #destination: Buffer | null = null;
  #filled = 0;
  /** The rest of the frame being placed is dropped: its destination's owner gave up on it. */
  #dropping = false;
  sink: PayloadSink | null = null;
  prefixSink: PrefixSink | null = null;
  #prefixBytes = 0;

  /**
   * @param onFrame called once per whole frame, in order; the payload may be a view into a chunk
   *   that was pushed, so a handler that keeps it past its own call keeps that chunk alive.
   * @param maxPayload frames announcing more payload bytes than this are rejected on their header.
   */
  constructor(
    public onFrame: FrameHandler,
    public maxPayload: number,
  ) {}

  /**
   * No more payloads go to a destination: the sink is removed and the rest of a frame already being
   * placed is read and dropped (the call that owned the destination was rejected; its caller may
   * reuse the buffer). That frame is then delivered as an empty placed payload.
   */
  detachSink(): void {
    this.sink = null;
    this.prefixSink = null;
    if (this.#state === State.PayloadIntoSink) this.#dropping = true;
  }

  /** Bytes held for a frame not yet complete: bounded by maxPayload + the header. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Feeds bytes; throws a ProtocolError on the first malformed frame and on every push after it.
   * `borrowed`: the chunk's memory is reused by the caller after this call (a socket's static read
   * buffer), so whatever part of it the reader still needs is copied before returning; payloads
   * handed to onFrame are then valid only during that call.
   */
  push(chunk: Buffer, borrowed = false): void {
    if (this.#error) throw this.#error;
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    try {
      this.#drain();
      const last = this.#chunks[this.#chunks.length - 1];
      if (borrowed && last !== undefined && last.buffer === chunk.buffer) {
        this.#chunks[this.#chunks.length - 1] = Buffer.from(last);
      }
    } catch (error) {
      this.#state = State.Failed;
      this.#chunks.length = 0;
      this.#buffered = 0;
      this.#error = error as ProtocolError;
      throw error;
    }
  }

  #drain(): void {
    for (;;) {
      if (this.#state === State.Header) {
        if (this.#buffered < FRAME_HEADER_BYTES) return;
        const header = this.#consume(FRAME_HEADER_BYTES);
        const length = header.readUInt32BE(0);
        const tag = header.readUInt8(4);
        if (length < MIN_FRAME_LENGTH)
          throw protocolError('FRAME_TOO_SHORT', `frame length ${length} has no room for its tag`);
        if (!isKnownTag(tag)) throw protocolError('UNKNOWN_TAG', `unknown frame tag ${tagName(tag)}`);
        if (length - 1 > this.maxPayload) {
          throw protocolError(
            'FRAME_TOO_LARGE',
            `${tagName(tag)} frame announces ${length - 1} payload bytes, the limit is ${this.maxPayload}`,
          );
        }
        this.#tag = tag;
        this.#payloadBytes = length - 1;
        const prefixBytes = this.prefixSink ? this.prefixSink.prefixBytes(tag) : 0;
        if (prefixBytes > 0 && this.#payloadBytes > prefixBytes) {
          this.#prefixBytes = prefixBytes;
          this.#state = State.Prefix;
          continue;
        }
        const destination = this.#payloadBytes > 0 && this.sink ? this.sink(tag, this.#payloadBytes) : null;
        if (destination && destination.byteLength === this.#payloadBytes) {
          this.#destination = Buffer.from(destination.buffer, destination.byteOffset, destination.byteLength);
          this.#filled = 0;
          this.#state = State.PayloadIntoSink;
        } else {
          this.#state = State.Payload;
        }
      } else if (this.#state === State.Prefix) {
        if (this.#buffered < this.#prefixBytes) return;
        const rest = this.#payloadBytes - this.#prefixBytes;
        const destination = this.prefixSink?.sink(this.#tag, this.#peek(this.#prefixBytes), rest) ?? null;
        if (destination && destination.byteLength === rest) {
          this.#consume(this.#prefixBytes);
          this.#payloadBytes = rest;
          this.#destination = Buffer.from(destination.buffer, destination.byteOffset, destination.byteLength);
          this.#filled = 0;
          this.#state = State.PayloadIntoSink;
        } else {
          this.#state = State.Payload;
        }
      } else if (this.#state === State.Payload) {
        if (this.#buffered < this.#payloadBytes) return;
        const payload = this.#consume(this.#payloadBytes);
        this.#state = State.Header;
        this.onFrame(this.#tag, payload, false);
        // A handler may have failed the reader (or be re-entered); stop if so.
        if (this.#error) return;
      } else if (this.#state === State.PayloadIntoSink) {
        const destination = this.#destination as Buffer;
        while (this.#filled < this.#payloadBytes && this.#buffered > 0) {
          const piece = this.#consume(
            Math.min((this.#chunks[0] as Buffer).length, this.#payloadBytes - this.#filled),
          );
          if (!this.#dropping) destination.set(piece, this.#filled);
          this.#filled += piece.length;
        }
        if (this.#filled < this.#payloadBytes) return;
        this.#destination = null;
        this.#state = State.Header;
        const dropped = this.#dropping;
        this.#dropping = false;
        this.onFrame(this.#tag, dropped ? EMPTY : destination, true);
        if (this.#error) return;
      } else {
        return;
      }
    }
  }

  /** The first n buffered bytes, left in place: a view when they lie in the first chunk, else a copy. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (n <= first.length) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const chunk of this.#chunks) {
      if (at === n) break;
      const take = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, take);
      at += take;
    }
    return out;
  }

  /** Takes n buffered bytes: a view when they lie in the first chunk, one copy otherwise. */
  #consume(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#buffered -= n;
    const first = this.#chunks[0] as Buffer;
    if (n === first.length) return this.#chunks.shift() as Buffer;
    if (n < first.length) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0] as Buffer;
      const take = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, take);
      at += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }
}
