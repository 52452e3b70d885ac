/**
 * The data phase of one agreed collective at rank 0 (spec/backend-tcp.md §5). Called again whenever
 * data arrives; does what the data at hand allows and says when the round is complete.
 *
 * - allreduce: chunk k is reduced once every rank's bytes of chunk k are in, strictly in rank order
 *   with the shared kernel's step (bit-identical to reduceRankOrder), into rank 0's recv; the reduced
 *   chunk goes to every worker as a view of recv (no copy).
 * - allgatherv / broadcast: a relay. Workers' blocks land in rank 0's recv (straight from the socket
 *   when the round is running); each worker receives the other ranks' blocks in rank order, as
 *   views of that recv, as soon as they are there.
 * - small results (spec §2.5): a worker whose whole result is at most `smallBytes` gets nothing
 *   while the round runs; its result leaves with the Go, in one Result frame (resultFor).
 */
import { bytesOf, dtypeByCode, type NumericArray } from '../../communicator/dtypes.js';
import type { Fingerprint } from '../../communicator/fingerprint.js';
import { reduceStepFor } from '../../communicator/reduce.js';
import type { Connection } from './connection.js';
import { elementsOf, isComplete, type Contribution } from './contribution.js';
import { Action, Tag, type ActionCode } from './protocol.js';

/** Rank 0's own side of the current collective. */
export interface LocalCall {
  action: ActionCode;
  fp: Fingerprint;
  words: Int32Array;
  send?: NumericArray;
  recv?: NumericArray;
  counts?: readonly number[];
  displs?: readonly number[];
  root?: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface RelayCursor {
  /** Index into the relay's sources. */
  source: number;
  /** Bytes of that source's block already forwarded. */
  offset: number;
}

/** The relay fields of an allreduce or barrier round: shared, never written. */
const NONE: number[] = [];

export class RoundProgress {
  readonly #local: LocalCall;
  readonly #heads: Contribution[];
  readonly #peers: Connection[];
  readonly #chunkBytes: number;
  #reduced = 0;
  /** A worker's result of at most this many bytes is folded into its Result frame. */
  readonly #smallBytes: number;
  /** allreduce: the result is small, so no AllreduceRecv is sent (every worker's result is recv). */
  readonly #foldReduced: boolean;
  /** Some frame of this round was queued as a view of rank 0's caller buffers (not copied). */
  referencesCaller = false;
  #scratch: Uint8Array | null = null;
  // Relay state (allgatherv, broadcast).
  #sources: number[] = NONE;
  #cursors: RelayCursor[] = NONE as never;

  constructor(
    local: LocalCall,
    heads: Contribution[],
    peers: Connection[],
    chunkBytes: number,
    smallBytes: number,
  ) {
    this.#local = local;
    this.#heads = heads;
    this.#peers = peers;
    this.#chunkBytes = chunkBytes;
    this.#smallBytes = smallBytes;
    this.#foldReduced =
      local.action === Action.allreduce && (local.recv as NumericArray).byteLength <= smallBytes;
    if (local.action === Action.allgatherv || local.action === Action.broadcast) this.#startRelay();
  }

  /**
   * Once the round is complete: the bytes worker `rank` still gets, to leave in its Result frame
   * with the Go (spec §2.5), or null when it gets a plain Go (its data has been sent, or it
   * receives none).
   */
  resultFor(rank: number): Uint8Array[] | null {
    const local = this.#local;
    if (local.action === Action.allreduce)
      return this.#foldReduced && (local.recv as NumericArray).byteLength > 0
        ? [bytesOf(local.recv as NumericArray)]
        : null;
    if (local.action === Action.barrier || !this.#folds(rank)) return null;
    const recv = bytesOf((local as Required<LocalCall>).recv);
    const pieces: Uint8Array[] = [];
    for (const source of this.#sources) {
      if (source === rank) continue;
      const base = this.#base(source);
      const length = this.#blockBytes(source);
      if (length > 0) pieces.push(recv.subarray(base, base + length));
    }
    return pieces.length > 0 ? pieces : null;
  }

  /** A relay: whether worker `rank`'s part of the result is small enough to travel with its Go. */
  #folds(rank: number): boolean {
    let bytes = 0;
    for (const source of this.#sources) if (source !== rank) bytes += this.#blockBytes(source);
    return bytes <= this.#smallBytes;
  }

  /** A relay: the bytes of rank `source`'s block (the root's buffer for a broadcast). */
  #blockBytes(source: number): number {
    const local = this.#local as Required<LocalCall>;
    return local.action === Action.allgatherv
      ? (local.counts[source] as number) * local.recv.BYTES_PER_ELEMENT
      : local.recv.byteLength;
  }

  /** The bytes each rank must announce for an agreed collective; a rank that differs broke the protocol. */
  static checkAnnounced(
    local: LocalCall,
    heads: readonly Contribution[],
  ): { rank: number; bytes: number; expected: number } | null {
    // Rank 0's own buffers give the sizes (the fingerprint's count is 0 for bcast's length exchange).
    const dtypeBytes = local.send ? local.send.BYTES_PER_ELEMENT : 0;
    for (let r = 1; r < heads.length; r++) {
      const head = heads[r] as Contribution;
      let expected = 0;
      if (local.action === Action.allreduce) expected = local.send?.byteLength ?? 0;
      else if (local.action === Action.allgatherv) expected = (local.counts?.[r] ?? 0) * dtypeBytes;
      else if (local.action === Action.broadcast)
        expected = r === local.root ? (local.recv?.byteLength ?? 0) : 0;
      if (head.bytes !== expected) return { rank: r, bytes: head.bytes, expected };
    }
    return null;
  }

  /** True when every byte has been reduced or relayed. */
  advance(): boolean {
    switch (this.#local.action) {
      case Action.allreduce:
        return this.#reduce();
      case Action.barrier:
        return true;
      default:
        return this.#relay();
    }
  }

  #reduce(): boolean {
    const { send, recv, fp } = this.#local as Required<LocalCall>;
    const dtype = dtypeByCode(((this.#local.words[0] as number) >>> 8) & 0xff);
    if (!dtype || !fp.op) throw new TypeError(`allreduce without dtype or op: ${fp.kind}`);
    const op = fp.op;
    const e = dtype.bytes;
    const total = recv.byteLength;
    const step = reduceStepFor(dtype, op);
    while (this.#reduced < total) {
      let available = Math.min(total, this.#reduced + this.#chunkBytes);
      for (let r = 1; r < this.#heads.length; r++)
        available = Math.min(available, (this.#heads[r] as Contribution).received);
      const end = available - (available % e);
      if (end <= this.#reduced) return false;
      const a = this.#reduced / e;
      const n = (end - this.#reduced) / e;
      const out = recv.subarray(a, a + n);
      if (recv !== send) (out as Float64Array).set(send.subarray(a, a + n) as Float64Array);
      this.#scratch ??= new Uint8Array(Math.min(total, this.#chunkBytes));
      for (let r = 1; r < this.#heads.length; r++) {
        step(out, elementsOf(this.#heads[r] as Contribution, this.#reduced, end, dtype, this.#scratch), 0, n);
      }
      // A small result leaves with the Go (resultFor); a large chunk is queued as a view of recv:
      // the round must not resolve before it has left.
      if (!this.#foldReduced) {
        const bytes = bytesOf(out);
        for (let r = 1; r < this.#peers.length; r++)
          if ((this.#peers[r] as Connection).send(Tag.AllreduceRecv, bytes)) this.referencesCaller = true;
      }
      this.#reduced = end;
    }
    return true;
  }

  #startRelay(): void {
    const local = this.#local as Required<LocalCall>;
    const size = this.#heads.length;
    this.#sources =
      local.action === Action.allgatherv ? Array.from({ length: size }, (_, r) => r) : [local.root];
    if (local.action === Action.allgatherv) {
      (local.recv as Float64Array).set(local.send as Float64Array, local.displs[0]);
    }
    // A worker whose part is small gets it all in its Result: nothing to stream to it.
    this.#cursors = Array.from({ length: size }, (_, d) => ({
      source: d > 0 && this.#folds(d) ? this.#sources.length : 0,
      offset: 0,
    }));
  }

  /** Where rank `source`'s block starts in rank 0's recv (bytes). */
  #base(source: number): number {
    const local = this.#local as Required<LocalCall>;
    return local.action === Action.allgatherv
      ? (local.displs[source] as number) * local.recv.BYTES_PER_ELEMENT
      : 0;
  }

  /**
   * For a relay: the slice of rank 0's recv that the next data frame of `rank` fills, so the reader
   * writes it there directly (spec §5.3); null when the frame is not the current block's.
   */
  destinationFor(rank: number, tag: number, bytes: number): Uint8Array | null {
    const action = this.#local.action;
    if (action !== Action.allgatherv && action !== Action.broadcast) return null;
    if (tag !== (action === Action.allgatherv ? Tag.AllgathervSend : Tag.Broadcast)) return null;
    const head = this.#heads[rank];
    if (!head || head.discard || head.received + bytes > head.bytes) return null;
    const at = this.#base(rank) + head.received;
    return bytesOf(this.#local.recv as NumericArray).subarray(at, at + bytes);
  }

  /**
   * Relays stream out of rank 0's own recv: every worker's bytes are first landed there (frames that
   * came before the round started are copied and released), then each destination gets the other
   * blocks in rank order as views of recv. So the group's data is held once, in recv.
   */
  #relay(): boolean {
    const local = this.#local as Required<LocalCall>;
    const tag = local.action === Action.allgatherv ? Tag.AllgathervRecv : Tag.Broadcast;
    const recvBytes = bytesOf(local.recv);
    let done = true;
    for (const source of this.#sources) {
      if (source === 0) continue;
      const head = this.#heads[source] as Contribution;
      let at = this.#base(source) + head.framesStart;
      for (const frame of head.frames) {
        recvBytes.set(frame, at);
        at += frame.byteLength;
      }
      head.framesStart = head.received;
      head.frames.length = 0;
      if (!isComplete(head)) done = false;
    }
    for (let d = 1; d < this.#peers.length; d++) {
      const cursor = this.#cursors[d] as RelayCursor;
      const peer = this.#peers[d] as Connection;
      while (cursor.source < this.#sources.length) {
        const source = this.#sources[cursor.source] as number;
        const head = this.#heads[source] as Contribution;
        const complete = source === 0 || isComplete(head);
        if (source !== d) {
          const available = source === 0 ? local.send.byteLength : head.received;
          const base = this.#base(source);
          while (cursor.offset < available) {
            const end = Math.min(available, cursor.offset + this.#chunkBytes);
            if (peer.send(tag, recvBytes.subarray(base + cursor.offset, base + end)))
              this.referencesCaller = true;
            cursor.offset = end;
          }
          if (!complete) break;
        }
        cursor.source++;
        cursor.offset = 0;
      }
      if (cursor.source < this.#sources.length) done = false;
    }
    return done;
  }
}
