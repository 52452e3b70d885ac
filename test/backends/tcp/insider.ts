/**
 * An insider: a peer that completes admission with the project's real handshake code (token
 * challenge included) and then sends well-formed but abusive sequences — rounds far ahead of the
 * group, huge legal contributions, a stream abandoned halfway through a frame, a Begin for a
 * collective nobody else starts (spec/backend-tcp.md §5.4). The bytes travel over an InsiderLink, so
 * the same insider can drive another link (a WebSocket) by giving it another link.
 */
import { connect } from 'node:net';
import WebSocket from 'ws';
import { WS_MAX_MESSAGE_BYTES } from '../../../src/backends/ws/limits.js';
import { FrameReader } from '../../../src/backends/star/frame-reader.js';
import {
  decodeChallenge,
  decodeReject,
  encodeHello,
  newNonce,
  proof,
  proofMatches,
} from '../../../src/backends/star/handshake.js';
import {
  Action,
  ALLREDUCE_PREFIX_BYTES,
  BEGIN_DATA_PAD,
  encodeBegin,
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  Tag,
  tagName,
  type ActionCode,
} from '../../../src/backends/star/protocol.js';
import { encodeFingerprint, fingerprint } from '../../../src/communicator/fingerprint.js';

/** A byte pipe to rank 0. write() queues by reference: a view written many times costs nothing more. */
export interface InsiderLink {
  /** Queues bytes (by reference) to leave in order. */
  write(bytes: Uint8Array): void;
  /** Resolves once every queued byte has been taken by the transport; never, while the peer stops reading. */
  drained(): Promise<void>;
  /** Bytes queued and not yet taken by the transport. */
  readonly queuedBytes: number;
  /** Every chunk from rank 0, in order. */
  onBytes: (chunk: Buffer) => void;
  destroy(): void;
  /** Resolves when the link has closed, from either side. */
  readonly closed: Promise<void>;
}

/** A TCP InsiderLink to rank 0 at 127.0.0.1:port. */
export function tcpLink(port: number): Promise<InsiderLink> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      const link: InsiderLink = {
        write: (bytes) => void socket.write(bytes),
        drained: () =>
          socket.writableLength === 0 || socket.destroyed
            ? Promise.resolve()
            : new Promise<void>((done) => {
                socket.once('drain', done);
                socket.once('close', done);
              }),
        get queuedBytes() {
          return socket.writableLength;
        },
        onBytes: () => {},
        destroy: () => socket.destroy(),
        closed,
      };
      socket.on('data', (chunk: Buffer) => link.onBytes(chunk));
      resolve(link);
    });
    socket.once('error', reject);
  });
}

/**
 * A WebSocket InsiderLink to rank 0 at `url`, as a Node rank dials it (no Origin): each write() is
 * one binary message, so the insider may also cut frames across messages. Drained once every send
 * has been written to the socket (ws's send callbacks run in order).
 */
export function wsLink(url: string): Promise<InsiderLink> {
  return new Promise((resolve, reject) => {
    // A zero mask: ws then sends the views by reference instead of masking (copying) hundreds of MiB
    // on the event loop that also runs the honest rank 2 (rank 0 unmasks a zero mask the same way).
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: WS_MAX_MESSAGE_BYTES,
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    ws.binaryType = 'nodebuffer';
    let unsent = 0;
    let drainWaiters: Array<() => void> = [];
    const wakeDrained = (): void => {
      for (const wake of drainWaiters.splice(0)) wake();
    };
    const closed = new Promise<void>((done) =>
      ws.once('close', () => {
        unsent = 0;
        wakeDrained();
        done();
      }),
    );
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      // Writes of one turn leave together, in messages of at most INSIDER_MESSAGE_BYTES: one ws.send
      // per 5-byte header would cost the shared event loop seconds for a flood of Begins.
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = (): void => {
        const pieces = pending;
        pending = [];
        pendingBytes = 0;
        if (ws.readyState !== WebSocket.OPEN || pieces.length === 0) return;
        let batch: Uint8Array[] = [];
        let bytes = 0;
        const send = (): void => {
          if (batch.length === 0) return;
          unsent++;
          ws.send(Buffer.concat(batch), { binary: true }, () => {
            if (unsent > 0 && --unsent === 0) wakeDrained();
          });
          batch = [];
          bytes = 0;
        };
        for (const piece of pieces) {
          if (bytes + piece.byteLength > INSIDER_MESSAGE_BYTES) send();
          batch.push(piece);
          bytes += piece.byteLength;
        }
        send();
      };
      const link: InsiderLink = {
        write: (bytes) => {
          if (ws.readyState !== WebSocket.OPEN) return;
          if (pending.length === 0) {
            unsent++; // the flush to come counts as unsent until it has run
            setImmediate(() => {
              flush();
              if (unsent > 0 && --unsent === 0) wakeDrained();
            });
          }
          pending.push(bytes);
          pendingBytes += bytes.byteLength;
        },
        drained: () =>
          unsent === 0 || ws.readyState !== WebSocket.OPEN
            ? Promise.resolve()
            : new Promise<void>((done) => drainWaiters.push(done)),
        get queuedBytes() {
          return ws.bufferedAmount + pendingBytes;
        },
        onBytes: () => {},
        destroy: () => ws.terminate(),
        closed,
      };
      ws.on('message', (data: Buffer) => link.onBytes(data));
      drainWaiters = [];
      resolve(link);
    });
  });
}

/** The largest message the ws insider sends (bytes): under rank 0's maxPayload. */
const INSIDER_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Control frames are kept whole; data frames only counted (an insider may receive gigabytes). */
const KEPT_PAYLOAD_BYTES = 4096;

export interface InsiderIdentity {
  rank: number;
  size: number;
  token?: string;
  jobId?: string;
}

/** The fingerprint words a float64 sum allreduce of `count` elements carries. */
export function allreduceWords(count: number): Int32Array {
  return encodeFingerprint(fingerprint('allreduce', { dtype: 'float64', count, op: 'sum' }));
}

export class Insider {
  /** Frames from rank 0 in order; data payloads over KEPT_PAYLOAD_BYTES are replaced by their length. */
  readonly frames: Array<{ tag: number; payload: Buffer | number }> = [];
  /** Data bytes received per tag. */
  readonly dataBytes = new Map<number, number>();
  #waiters: Array<() => void> = [];
  #closed = false;

  private constructor(readonly link: InsiderLink) {
    const reader = new FrameReader((tag, payload) => {
      const kept = payload.length <= KEPT_PAYLOAD_BYTES ? Buffer.from(payload) : payload.length;
      this.frames.push({ tag, payload: kept });
      this.dataBytes.set(tag, (this.dataBytes.get(tag) ?? 0) + payload.length);
      this.#wake();
    }, MAX_FRAME_PAYLOAD);
    link.onBytes = (chunk) => {
      try {
        reader.push(chunk);
      } catch {
        link.destroy();
      }
    };
    void link.closed.then(() => {
      this.#closed = true;
      this.#wake();
    });
  }

  /**
   * Joins as `identity.rank` with the real handshake (§3): Handshake, then the token challenge when a
   * token is given; resolves once rank 0 sends Ack (the whole group has joined).
   */
  static async join(link: InsiderLink, identity: InsiderIdentity): Promise<Insider> {
    const insider = new Insider(link);
    const nonce = newNonce();
    const token = identity.token ?? null;
    insider.send(
      Tag.Handshake,
      encodeHello({
        version: PROTOCOL_VERSION,
        hasToken: token !== null,
        rank: identity.rank,
        size: identity.size,
        nonce,
        jobId: identity.jobId ?? null,
      }),
    );
    if (token !== null) {
      // Version 3 (§3.1): the worker proves the token first; rank 0's proof comes in the Ack.
      const ids = {
        workerNonce: nonce,
        coordinatorNonce: decodeChallenge(await insider.next(Tag.Challenge)),
        rank: identity.rank,
        size: identity.size,
      };
      insider.send(Tag.Auth, proof(token, 'worker', ids));
      if (!proofMatches(proof(token, 'coordinator', ids), await insider.next(Tag.Ack)))
        throw new Error('insider: rank 0 failed the token challenge');
    } else {
      await insider.next(Tag.Ack);
    }
    return insider;
  }

  /** Writes one frame; the payload parts are queued by reference. */
  send(tag: number, ...parts: Uint8Array[]): void {
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(1 + parts.reduce((n, p) => n + p.byteLength, 0), 0);
    header.writeUInt8(tag, 4);
    this.link.write(header);
    for (const part of parts) if (part.byteLength > 0) this.link.write(part);
  }

  /** A Begin for collective #sequence announcing `bytes` of data. */
  begin(sequence: number, action: ActionCode, words: Int32Array, bytes: number): void {
    const payload = encodeBegin({ sequence, action, fingerprint: words, contributionBytes: bytes });
    this.send(action === Action.barrier ? Tag.BarrierReady : Tag.Begin, payload);
  }

  /** Version 4's small path (spec §2.5): a float64 sum allreduce whose data rides in its Begin. */
  smallAllreduce(sequence: number, data: Float64Array): void {
    const payload = encodeBegin({
      sequence,
      action: Action.allreduce,
      fingerprint: allreduceWords(data.length),
      contributionBytes: data.byteLength,
    });
    this.send(
      Tag.Begin,
      payload,
      BEGIN_DATA_PAD,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  /**
   * A whole, well-formed float64 sum allreduce contribution: Begin, then `data` in frames of
   * `chunkBytes`. With `stopAfterBytes`, the stream stops there, mid-frame: the rest of that frame's
   * header promises bytes that never come (for an abandon, destroy the link after).
   */
  allreduce(sequence: number, data: Float64Array, chunkBytes: number, stopAfterBytes?: number): void {
    const words = allreduceWords(data.length);
    this.begin(sequence, Action.allreduce, words, data.byteLength);
    const prefix = new Uint8Array(ALLREDUCE_PREFIX_BYTES);
    prefix[0] = ((words[0] as number) >>> 16) & 0xff;
    prefix[1] = ((words[0] as number) >>> 8) & 0xff;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let at = 0; at < bytes.byteLength; at += chunkBytes) {
      const chunk = bytes.subarray(at, Math.min(bytes.byteLength, at + chunkBytes));
      if (stopAfterBytes !== undefined && at + chunk.byteLength > stopAfterBytes) {
        const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
        header.writeUInt32BE(1 + ALLREDUCE_PREFIX_BYTES + chunk.byteLength, 0);
        header.writeUInt8(Tag.AllreduceSend, 4);
        this.link.write(header);
        this.link.write(prefix);
        this.link.write(chunk.subarray(0, Math.max(0, stopAfterBytes - at)));
        return;
      }
      this.send(Tag.AllreduceSend, prefix, chunk);
    }
  }

  /** The first frame of `tag` (received or still to come); rejects if the link closes first. */
  async next(tag: number): Promise<Buffer> {
    for (;;) {
      const found = this.frames.find((f) => f.tag === tag);
      if (found) return typeof found.payload === 'number' ? Buffer.alloc(0) : found.payload;
      const reject = this.frames.find((f) => f.tag === Tag.Reject);
      if (reject && typeof reject.payload !== 'number')
        throw new Error(`insider: rank 0 rejected: ${decodeReject(reject.payload).message}`);
      if (this.#closed) throw new Error(`insider: the link closed before ${tagName(tag)}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Resolves once `count` frames of `tag` have arrived; rejects if the link closes first. */
  async count(tag: number, count: number): Promise<void> {
    while (this.frames.filter((f) => f.tag === tag).length < count) {
      if (this.#closed) throw new Error(`insider: the link closed before ${count} ${tagName(tag)} frames`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
