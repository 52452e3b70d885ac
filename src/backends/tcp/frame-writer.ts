/**
 * Writes frames to a socket (spec/backend-tcp.md §2). Small frames are assembled in one buffer and
 * written once (one syscall, one TCP segment with TCP_NODELAY); large ones go as header + the
 * caller's own bytes under cork/uncork, so array data is never copied on the way out.
 *
 * The caller's bytes are referenced until the kernel has taken them: `flushed()` resolves when
 * every frame written so far has left, which is when the caller may reuse its buffers.
 */
import type { Socket } from 'node:net';
import { FRAME_HEADER_BYTES } from './protocol.js';

/** Frames up to this size are copied into one buffer: cheaper than a writev of small pieces. */
const COALESCE_BYTES = 4096;

export class FrameWriter {
  #unflushed = 0;
  #waiters: Array<() => void> = [];

  constructor(private readonly socket: Socket) {}

  /** Frames written whose bytes the kernel has not taken yet. */
  get unflushedFrames(): number {
    return this.#unflushed;
  }

  /** Bytes queued in Node for this socket: the backpressure signal. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  write(tag: number, ...parts: Uint8Array[]): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    let payloadBytes = 0;
    for (const part of parts) payloadBytes += part.byteLength;
    this.#unflushed++;
    const done = (): void => this.#onFlushed();
    if (FRAME_HEADER_BYTES + payloadBytes <= COALESCE_BYTES) {
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
      frame.writeUInt32BE(payloadBytes + 1, 0);
      frame.writeUInt8(tag, 4);
      let at = FRAME_HEADER_BYTES;
      for (const part of parts) {
        frame.set(part, at);
        at += part.byteLength;
      }
      this.socket.write(frame, done);
      return;
    }
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(payloadBytes + 1, 0);
    header.writeUInt8(tag, 4);
    // Writes complete in order, so the callback of the last piece says the whole frame has left.
    const pieces = [header, ...parts.filter((part) => part.byteLength > 0)];
    this.socket.cork();
    pieces.forEach((piece, i) => this.socket.write(piece, i === pieces.length - 1 ? done : undefined));
    this.socket.uncork();
  }

  /** Resolves when the kernel has taken every frame written so far (or the socket is gone). */
  flushed(): Promise<void> {
    if (this.#unflushed === 0 || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Releases flushed() waiters when the socket dies with frames unflushed. */
  abandon(): void {
    this.#unflushed = 0;
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  #onFlushed(): void {
    if (this.#unflushed > 0) this.#unflushed--;
    if (this.#unflushed === 0) for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
