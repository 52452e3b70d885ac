/**
 * One TCP connection between a worker and the coordinator: a socket with its FrameReader and
 * FrameWriter. Whatever goes wrong on it — a malformed frame, a handler that rejects a frame, a
 * socket error, the peer leaving — ends up in exactly one `onEnd` call; nothing escapes as an
 * exception into the event loop, so a bad peer can never crash the process.
 */
import type { Socket } from 'node:net';
import { FrameReader } from './frame-reader.js';
import { FrameWriter } from './frame-writer.js';
import { MAX_HANDSHAKE_PAYLOAD } from './protocol.js';

/** TCP keepalive probes start after this much idle time (ms), so a vanished peer host is noticed. */
export const KEEPALIVE_IDLE_MS = 10_000;

/** Bytes a socket reads at once into its reused buffer (`onread`). */
export const STATIC_READ_BYTES = 64 * 1024;

/**
 * Reading into one reused buffer (net's `onread` option) instead of a fresh buffer per read: no
 * allocation per message on the hot path. Create it before the socket, pass `options` to connect.
 */
export class StaticReads {
  deliver: (chunk: Buffer) => void = () => {};
  readonly options = {
    buffer: Buffer.allocUnsafe(STATIC_READ_BYTES),
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      this.deliver(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
      return true;
    },
  };
}

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

  /** `reads`: the socket reads into one reused buffer (net's `onread`) and hands chunks here. */
  constructor(
    readonly socket: Socket,
    reads?: StaticReads,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    this.reader = new FrameReader(
      (tag, payload, placed) => this.onFrame(tag, payload, placed),
      MAX_HANDSHAKE_PAYLOAD,
    );
    this.writer = new FrameWriter(socket);
    if (reads) reads.deliver = (chunk) => this.#read(chunk, true);
    else socket.on('data', (chunk: Buffer) => this.#read(chunk, false));
    socket.on('error', (error) => {
      this.#error ??= error;
    });
    socket.on('close', () => this.#end());
  }

  #read(chunk: Buffer, borrowed: boolean): void {
    if (this.#ended) return;
    try {
      this.reader.push(chunk, borrowed);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Frames the kernel had not taken when the connection ended (they are dropped then: see onEnd). */
  get unflushedAtEnd(): number {
    return this.#unflushedAtEnd;
  }

  /** True when `parts` were queued by reference (keep them unchanged until writer.flushed()). */
  send(tag: number, ...parts: Uint8Array[]): boolean {
    return this.#ended ? false : this.writer.write(tag, ...parts);
  }

  sendAll(frames: ReadonlyArray<readonly [number, readonly Uint8Array[]]>): boolean {
    return this.#ended ? false : this.writer.writeFrames(frames);
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
    this.socket.destroy();
    this.#end();
  }

  /** Sends nothing more and closes once queued frames have left; the peer sees a clean end. */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
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
