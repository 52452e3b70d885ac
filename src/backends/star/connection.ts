/**
 * One link between a worker and the coordinator, with its FrameReader and FrameWriter. Whatever goes
 * wrong on it — a malformed frame, a handler that rejects a frame, a transport error, the peer
 * leaving — ends up in exactly one `onEnd` call; nothing escapes as an exception into the event loop,
 * so a bad peer can never crash the process.
 */
import type { Link } from '../link/link.js';
import { FrameReader } from './frame-reader.js';
import { FrameWriter } from './frame-writer.js';
import { MAX_HANDSHAKE_PAYLOAD } from './protocol.js';

export class Connection {
  readonly reader: FrameReader;
  readonly writer: FrameWriter;
  /** Replaced as the connection moves from handshake to collectives. */
  onFrame: (tag: number, payload: Buffer, placed: boolean) => void = () => {};
  /** Called once: error is null when the peer closed cleanly, else why the connection ended. */
  onEnd: (error: Error | null) => void = () => {};
  #ended = false;
  #error: Error | null = null;
  #unflushedAtEnd = 0;
  /** The memory of the borrowed chunk being pushed (the link reuses it after the push), else null. */
  #lent: ArrayBufferLike | null = null;

  constructor(readonly link: Link) {
    this.reader = new FrameReader(
      (tag, payload, placed) => this.onFrame(tag, payload, placed),
      MAX_HANDSHAKE_PAYLOAD,
    );
    this.writer = new FrameWriter(link);
    link.onData = (chunk, borrowed) => this.#read(chunk, borrowed);
    link.onClose = (error) => {
      this.#error ??= error;
      this.#end();
    };
  }

  #read(chunk: Uint8Array, borrowed: boolean): void {
    if (this.#ended) return;
    this.#lent = borrowed ? chunk.buffer : null;
    try {
      // The reader decodes with Buffer's methods; a link that hands out plain bytes is viewed, not copied.
      this.reader.push(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
        borrowed,
      );
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.#lent = null;
    }
  }

  /**
   * A payload (or part of one) that a frame handler keeps past its call: a copy when it lies in the
   * link's borrowed read buffer (reused after this push, spec backend-tcp §11.2), else `view` itself.
   */
  owned(view: Uint8Array): Uint8Array {
    return this.#lent !== null && view.buffer === this.#lent ? Uint8Array.prototype.slice.call(view) : view;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Frames the link had not taken when the connection ended (they are dropped then: see onEnd). */
  get unflushedAtEnd(): number {
    return this.#unflushedAtEnd;
  }

  /** True when `parts` were queued by reference (keep them unchanged until writer.flushed()). */
  send(tag: number, ...parts: Uint8Array[]): boolean {
    return this.#ended ? false : this.writer.write(tag, ...parts);
  }

  /** `taken` runs once the link has taken every frame (not if the connection ends first). */
  sendAll(frames: ReadonlyArray<readonly [number, readonly Uint8Array[]]>, taken?: () => void): boolean {
    return this.#ended ? false : this.writer.writeFrames(frames, taken);
  }

  /** Holds writes until uncork(), so frames written together leave in one syscall. */
  cork(): void {
    this.writer.cork();
  }

  uncork(): void {
    this.writer.uncork();
  }

  /** Ends the connection because of `error` (a protocol violation): no more frames are read. */
  fail(error: Error): void {
    this.#error ??= error;
    this.link.destroy();
    this.#end();
  }

  /** Sends nothing more and closes once queued frames have left; the peer sees a clean end. */
  end(): void {
    this.link.end();
  }

  destroy(): void {
    this.link.destroy();
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#unflushedAtEnd = this.writer.unflushedFrames;
    this.writer.abandon();
    this.onEnd(this.#error);
  }
}
