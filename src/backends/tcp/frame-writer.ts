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
  readonly #done = (): void => this.#onFlushed();

  constructor(private readonly socket: Socket) {}

  /** Frames written whose bytes the kernel has not taken yet. */
  get unflushedFrames(): number {
    return this.#unflushed;
  }

  /** Bytes queued in Node for this socket: the backpressure signal. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes one frame. Returns true when the caller's bytes were queued by reference (the caller must
   * keep them unchanged until flushed()), false when they were copied.
   */
  write(tag: number, ...parts: Uint8Array[]): boolean {
    return this.writeFrames([[tag, parts]]);
  }

  /** Writes frames back to back: one buffer and one syscall when they are small. */
  writeFrames(frames: ReadonlyArray<readonly [number, readonly Uint8Array[]]>): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    let total = 0;
    for (const [, parts] of frames) {
      total += FRAME_HEADER_BYTES;
      for (const part of parts) total += part.byteLength;
    }
    this.#unflushed++;
    if (total <= COALESCE_BYTES) {
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (const [tag, parts] of frames) {
        at = writeHeader(out, at, tag, parts);
        for (const part of parts) {
          out.set(part, at);
          at += part.byteLength;
        }
      }
      this.socket.write(out, this.#done);
      return false;
    }
    // Writes complete in order, so the callback of the last piece says every frame has left.
    const pieces: Uint8Array[] = [];
    for (const [tag, parts] of frames) {
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeHeader(header, 0, tag, parts);
      pieces.push(header);
      for (const part of parts) if (part.byteLength > 0) pieces.push(part);
    }
    this.socket.cork();
    pieces.forEach((piece, i) => this.socket.write(piece, i === pieces.length - 1 ? this.#done : undefined));
    this.socket.uncork();
    return true;
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

function writeHeader(out: Buffer, at: number, tag: number, parts: readonly Uint8Array[]): number {
  let payloadBytes = 0;
  for (const part of parts) payloadBytes += part.byteLength;
  out.writeUInt32BE(payloadBytes + 1, at);
  out.writeUInt8(tag, at + 4);
  return at + FRAME_HEADER_BYTES;
}
