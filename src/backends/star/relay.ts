/**
 * Rank 0's relay of messages between workers (spec/backend-tcp.md §12.2). Each MessageTo/MessageMore
 * frame from a worker is forwarded at once, in arrival order, to its destination's link (so order
 * per (source, destination) is the order the source wrote), or delivered to rank 0's own channel.
 * Forwarded frames are read into memory of their own (never a view of a reused read buffer) and
 * sent by reference: rank 0 copies each relayed byte once.
 *
 * Flow control: per destination, the bytes forwarded that its link has not taken yet are counted;
 * above RELAY_LIMIT_BYTES every source that forwards to it stops being read (its link is paused, TCP
 * holds the rest at the source) until the count falls to half the limit.
 */
import type { Connection } from './connection.js';
import { decodeMessageStart, decodeMorePeer, MORE_FIXED_BYTES } from './message-frames.js';
import { protocolError, Tag } from './protocol.js';
import type { StarChannel } from './star-channel.js';

/** Relayed bytes queued for one destination before rank 0 stops reading the sources (bytes, §12.2). */
export const RELAY_LIMIT_BYTES = 8 * 1024 * 1024;

export class Relay {
  /** Per destination: bytes forwarded that its link has not taken yet. */
  readonly #queued: number[];
  /** Per destination: the sources paused because of it. */
  readonly #pausedBy: Array<Set<number>>;
  /** Per source: the destinations it waits for (paused while any). */
  readonly #waitsFor: Array<Set<number>>;
  /** Per source: the message whose pieces are arriving, and the bytes still to come. */
  readonly #open: Array<{ dest: number; left: number } | null>;

  /**
   * @param pause stops (true) or resumes (false) reading a source for the relay's sake; the
   *   coordinator combines it with its own hold (§5.4).
   */
  constructor(
    private readonly size: number,
    private readonly peers: readonly Connection[],
    private readonly channel: StarChannel,
    private readonly pause: (rank: number, on: boolean) => void,
  ) {
    this.#queued = peers.map(() => 0);
    this.#pausedBy = peers.map(() => new Set());
    this.#waitsFor = peers.map(() => new Set());
    this.#open = peers.map(() => null);
  }

  /** Ranks paused because a destination of theirs is slow (stall reports do not call them late). */
  isPaused(rank: number): boolean {
    return (this.#waitsFor[rank]?.size ?? 0) > 0;
  }

  /** Where the reader puts a message frame: memory of its own, so it can be forwarded by reference. */
  static destinationFor(tag: number, bytes: number): Uint8Array | null {
    return tag === Tag.MessageTo || tag === Tag.MessageMore ? Buffer.allocUnsafe(bytes) : null;
  }

  /** A MessageTo or MessageMore from `source`. Throws ProtocolError on a broken message. */
  onFrame(source: number, tag: number, received: Buffer, placed: boolean): void {
    // Not placed only if a sink was detached (the group failed): then nothing is forwarded anyway.
    const payload = placed ? received : Buffer.from(received);
    if (tag === Tag.MessageTo) {
      const start = decodeMessageStart(payload);
      const dest = start.peer;
      if (this.#open[source])
        throw protocolError('UNEXPECTED_FRAME', `MessageTo before rank ${source}'s previous message ended`);
      if (dest >= this.size || dest === source)
        throw protocolError(
          'BAD_PAYLOAD',
          `message from rank ${source} to rank ${dest} (group of ${this.size})`,
        );
      const left = start.bytes - start.piece.length;
      if (left > 0) this.#open[source] = { dest, left };
      if (dest === 0) this.channel.start(source, start.bytes, start.header, start.piece);
      else this.#forward(source, dest, Tag.MessageFrom, payload);
      return;
    }
    const dest = decodeMorePeer(payload);
    const open = this.#open[source];
    if (!open || open.dest !== dest)
      throw protocolError(
        'UNEXPECTED_FRAME',
        `MessageMore to rank ${dest} outside a message from rank ${source}`,
      );
    const pieceBytes = payload.length - MORE_FIXED_BYTES;
    if (pieceBytes > open.left)
      throw protocolError(
        'BAD_PAYLOAD',
        `rank ${source} sent more bytes than its message to rank ${dest} announced`,
      );
    open.left -= pieceBytes;
    if (open.left === 0) this.#open[source] = null;
    if (dest === 0) this.channel.more(source, payload.subarray(MORE_FIXED_BYTES));
    else this.#forward(source, dest, Tag.MessageMore, payload);
  }

  /** Resumes every source (close(): a paused link would never read its peer's end). */
  release(): void {
    for (let r = 0; r < this.size; r++) {
      if ((this.#waitsFor[r] as Set<number>).size > 0) this.pause(r, false);
      (this.#waitsFor[r] as Set<number>).clear();
      (this.#pausedBy[r] as Set<number>).clear();
    }
  }

  /** The frame goes on as it came but names the source: its peer field (owned memory) is rewritten. */
  #forward(source: number, dest: number, tag: number, payload: Buffer): void {
    const target = this.peers[dest] as Connection;
    // A destination that left: the group fails as soon as rank 0 learns why (§7.1); nothing to keep.
    if (target.ended) return;
    payload.writeUInt32BE(source, 0);
    const bytes = payload.length;
    this.#queued[dest] = (this.#queued[dest] as number) + bytes;
    target.sendAll([[tag, [payload]]], () => this.#taken(dest, bytes));
    if ((this.#queued[dest] as number) > RELAY_LIMIT_BYTES && !this.#pausedBy[dest]?.has(source)) {
      (this.#pausedBy[dest] as Set<number>).add(source);
      const waits = this.#waitsFor[source] as Set<number>;
      waits.add(dest);
      if (waits.size === 1) this.pause(source, true);
    }
  }

  #taken(dest: number, bytes: number): void {
    this.#queued[dest] = (this.#queued[dest] as number) - bytes;
    if ((this.#queued[dest] as number) > RELAY_LIMIT_BYTES / 2) return;
    const paused = this.#pausedBy[dest] as Set<number>;
    for (const source of paused) {
      const waits = this.#waitsFor[source] as Set<number>;
      waits.delete(dest);
      if (waits.size === 0) this.pause(source, false);
    }
    paused.clear();
  }
}
