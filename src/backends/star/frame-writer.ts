/**
 * Writes frames to a link (spec/backend-tcp.md §2, §5.1, §11). Small frames are copied into one
 * buffer and leave in one link write (one syscall, one segment with TCP_NODELAY; one message over a
 * message link); large ones go as a header plus the caller's own bytes, so array data is never
 * copied on the way out. Between cork() and uncork() frames are collected and leave together: runs
 * of small frames merged, large parts by reference. Every link write is a batch of whole frames.
 *
 * The caller's bytes are referenced until the link has taken them: `flushed()` resolves when every
 * frame written so far has left (every write's `done` has run), when the caller may reuse its buffers.
 */
import type { Link } from '../link/link.js';
import { FRAME_HEADER_BYTES } from './protocol.js';

/** Frames up to this size (bytes, header included) are copied: cheaper than a writev of small pieces. */
const COALESCE_BYTES = 4096;

type Frame = readonly [number, readonly Uint8Array[]];

function frameBytes(parts: readonly Uint8Array[]): number {
  let total = FRAME_HEADER_BYTES;
  for (const part of parts) total += part.byteLength;
  return total;
}

export class FrameWriter {
  #unflushed = 0;
  #waiters: Array<() => void> = [];
  /** Frames collected between cork() and uncork(); one array reused, so corking allocates nothing. */
  readonly #batch: Frame[] = [];
  /** `taken` callbacks of the frames in #batch, run once the batch's last write has been taken. */
  #batchTaken: Array<() => void> = [];
  #corks = 0;
  readonly #done = (): void => this.#onFlushed();

  /** Set by abandon(): the link is gone, nothing written will be reported as taken. */
  #abandoned = false;

  constructor(private readonly link: Link) {}

  /** Writes (or batches) whose bytes the link has not taken yet. */
  get unflushedFrames(): number {
    return this.#unflushed + this.#batch.length;
  }

  /**
   * Writes one frame. Returns true when the caller's bytes are queued by reference (the caller must
   * keep them unchanged until flushed()), false when they are copied.
   */
  write(tag: number, ...parts: Uint8Array[]): boolean {
    if (!this.link.writable) return false;
    const frame: Frame = [tag, parts];
    if (this.#corks > 0) this.#batch.push(frame);
    else this.#emit([frame]);
    return frameBytes(parts) > COALESCE_BYTES;
  }

  /**
   * Writes frames back to back; same return value as write(), for any of them. `taken`, if given,
   * runs once the link has taken every one of them (never, if the link dies first: the caller learns
   * that from the connection's end).
   */
  writeFrames(frames: readonly Frame[], taken?: () => void): boolean {
    if (!this.link.writable) return false;
    let referenced = false;
    for (const [, parts] of frames) if (frameBytes(parts) > COALESCE_BYTES) referenced = true;
    if (this.#corks > 0) {
      for (const frame of frames) this.#batch.push(frame);
      if (taken) this.#batchTaken.push(taken);
    } else {
      this.#emit(frames, taken);
    }
    return referenced;
  }

  /**
   * Whether writing `frames` now copies every byte of them before returning (none is referenced):
   * each is at most COALESCE_BYTES and the writer is not corked (a corked batch references its frames).
   */
  copies(frames: readonly Frame[]): boolean {
    if (this.#corks > 0) return false;
    for (const [, parts] of frames) if (frameBytes(parts) > COALESCE_BYTES) return false;
    return true;
  }

  /** Collects frames until the matching uncork(); nests. */
  cork(): void {
    this.#corks++;
  }

  uncork(): void {
    if (this.#corks === 0 || --this.#corks > 0) return;
    const batch = this.#batch;
    if (batch.length === 0) return;
    const taken = this.#batchTaken;
    this.#batchTaken = [];
    if (this.link.writable)
      this.#emit(batch, taken.length === 0 ? undefined : () => taken.forEach((f) => f()));
    batch.length = 0;
  }

  /** Resolves when the link has taken every frame written so far (or the link is gone). */
  flushed(): Promise<void> {
    if (this.unflushedFrames === 0 || this.#abandoned) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Releases flushed() waiters when the link dies with frames unflushed. */
  abandon(): void {
    this.#abandoned = true;
    this.#unflushed = 0;
    this.#batch.length = 0;
    this.#batchTaken = [];
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /**
   * Cuts the batch at whole frames so that no link write exceeds link.maxBatchBytes (a message
   * link's message limit, spec/backend-ws.md §5); a byte stream has no limit and takes it whole.
   */
  #emit(frames: readonly Frame[], taken?: () => void): void {
    const limit = this.link.maxBatchBytes;
    if (limit === undefined || frames.length === 1) {
      this.#emitBatch(frames, taken);
      return;
    }
    let start = 0;
    let bytes = 0;
    for (let f = 0; f < frames.length; f++) {
      const size = frameBytes((frames[f] as Frame)[1]);
      if (f > start && bytes + size > limit) {
        this.#emitBatch(frames.slice(start, f));
        start = f;
        bytes = 0;
      }
      bytes += size;
    }
    // Writes are taken in order: the last one's callback says every one was.
    this.#emitBatch(start === 0 ? frames : frames.slice(start), taken);
  }

  /** Small frames are copied into one buffer (one write); any large one sends the batch by pieces. */
  #emitBatch(frames: readonly Frame[], taken?: () => void): void {
    let total = 0;
    for (let f = 0; f < frames.length; f++) {
      const bytes = frameBytes((frames[f] as Frame)[1]);
      if (bytes > COALESCE_BYTES) {
        this.#emitMany(frames, taken);
        return;
      }
      total += bytes;
    }
    this.#emitCopied(frames, total, taken);
  }

  /** The link's `done` for one write: the writer's count, then the caller's `taken`, if any. */
  #doneFor(taken?: () => void): () => void {
    if (taken === undefined) return this.#done;
    return () => {
      this.#onFlushed();
      taken();
    };
  }

  /** Small frames only (a Begin with its data, a result with its Go): one buffer, one write. */
  #emitCopied(frames: readonly Frame[], total: number, taken?: () => void): void {
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let f = 0; f < frames.length; f++) {
      const [tag, parts] = frames[f] as Frame;
      at = writeHeader(out, at, tag, parts);
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i] as Uint8Array;
        out.set(part, at);
        at += part.byteLength;
      }
    }
    this.#unflushed++;
    this.link.write([out], this.#doneFor(taken));
  }

  /** Runs of small frames merged into one buffer, large parts by reference, all in one link write. */
  #emitMany(frames: readonly Frame[], taken?: () => void): void {
    const pieces: Uint8Array[] = [];
    let small: Frame[] = [];
    const mergeSmall = (): void => {
      if (small.length === 0) return;
      let total = 0;
      for (const [, parts] of small) total += frameBytes(parts);
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (const [tag, parts] of small) {
        at = writeHeader(out, at, tag, parts);
        for (const part of parts) {
          out.set(part, at);
          at += part.byteLength;
        }
      }
      pieces.push(out);
      small = [];
    };
    for (const frame of frames) {
      const [tag, parts] = frame;
      if (frameBytes(parts) <= COALESCE_BYTES) {
        small.push(frame);
        continue;
      }
      mergeSmall();
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeHeader(header, 0, tag, parts);
      pieces.push(header);
      for (const part of parts) if (part.byteLength > 0) pieces.push(part);
    }
    mergeSmall();
    this.#unflushed++;
    this.link.write(pieces, this.#doneFor(taken));
  }

  #onFlushed(): void {
    if (this.#unflushed > 0) this.#unflushed--;
    if (this.unflushedFrames === 0) for (const resolve of this.#waiters.splice(0)) resolve();
  }
}

function writeHeader(out: Buffer, at: number, tag: number, parts: readonly Uint8Array[]): number {
  let payloadBytes = 0;
  for (const part of parts) payloadBytes += part.byteLength;
  out.writeUInt32BE(payloadBytes + 1, at);
  out.writeUInt8(tag, at + 4);
  return at + FRAME_HEADER_BYTES;
}
