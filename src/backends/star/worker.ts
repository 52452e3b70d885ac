/**
 * A worker rank's backend (ranks 1…R-1, spec/backend-tcp.md §4–§7). Each collective: send Begin and
 * this rank's data at once (no waiting for a go-ahead, so a small allreduce is one round trip), then
 * place what rank 0 streams back until Go — or raise what rank 0 says instead (Mismatch, Timeout,
 * Abort). Losing rank 0 fails the communicator naming rank 0.
 */
import type { PairChannel } from '../../communicator/messages/channel.js';
import type { Backend, Communicator, SharedRegion } from '../../communicator/communicator.js';
import { bytesOf, type DType, type NumericArray } from '../../communicator/dtypes.js';
import { CommError, stallWarningMessage } from '../../communicator/errors.js';
import {
  decodeFingerprint,
  encodeFingerprint,
  mismatchError,
  type Fingerprint,
} from '../../communicator/fingerprint.js';
import { HeapRegion } from '../../communicator/heap-region.js';
import { allocate } from '../../communicator/validate.js';
import type { Connection } from './connection.js';
import {
  alreadyFailed,
  closedForMessages,
  closedInFlight,
  formatSecs,
  gaveUpOnThisRank,
  peerFailed,
  timedOut,
  whyEnded,
} from './failures.js';
import { closeConnections, StallClock } from './lifecycle.js';
import type { StarBackendName } from './options.js';
import { backendOf, type StarSettings } from './settings.js';
import {
  Action,
  ALLREDUCE_PREFIX_BYTES,
  decodeAbort,
  decodeMismatch,
  decodeSequence,
  decodeSilentRanks,
  BEGIN_DATA_PAD,
  encodeBegin,
  protocolError,
  RESULT_HEADER_BYTES,
  Tag,
  tagName,
  type ActionCode,
} from './protocol.js';
import { createOneRankCommunicator } from '../../communicator/one-rank.js';
import { decodeMessageStart, decodeMorePeer, encodeFail, MORE_FIXED_BYTES } from './message-frames.js';
import { StarChannel } from './star-channel.js';

/**
 * Without a word from rank 0 for this many timeouts, a worker gives up on it (rank 0 is frozen); it
 * warns of rank 0's silence after this many stall-warning intervals. Twice, so that rank 0's own
 * Warning and Timeout frames (sent at one interval) always come first while rank 0 is alive.
 */
const COORDINATOR_SILENCE_FACTOR = 2;

const RECV_TAG: Record<number, number> = {
  [Action.allreduce]: Tag.AllreduceRecv,
  [Action.allgatherv]: Tag.AllgathervRecv,
  [Action.broadcast]: Tag.Broadcast,
};

interface PendingCall {
  sequence: number;
  action: ActionCode;
  fp: Fingerprint;
  /** Where the bytes rank 0 streams back go, filled in order. */
  segments: Uint8Array[];
  segment: number;
  offset: number;
  /** Written into the caller's recv when Go confirms the fingerprints agreed (allgatherv's own block). */
  ownBlock: { recv: NumericArray; send: NumericArray; at: number } | null;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class WorkerBackend implements Backend {
  readonly name: StarBackendName;
  readonly isLeader = true;
  readonly channel: PairChannel;
  readonly rank: number;
  readonly size: number;
  readonly #s: StarSettings;
  readonly #connection: Connection;
  #sequence = 0;
  #pending: PendingCall | null = null;
  #failure: CommError | null = null;
  /** Rank 0 closed in order while nothing needed it (§14.4): star calls and messages to rank 0 fail with this. */
  #coordinatorGone: CommError | null = null;
  #announceFailure: (error: CommError) => void = () => {};
  /** Settles with the group's failure once this rank learns of it (never rejects; pending while the group lives). */
  readonly failed = new Promise<CommError>((resolve) => (this.#announceFailure = resolve));
  #closing: Promise<void> | null = null;
  readonly #clock: StallClock;
  /** A contribution of at most this many bytes rides in its Begin (spec §2.5). */
  readonly #smallBytes: number;
  /** Bytes queued in the link at the last silence check (progress detector for a long send). */
  #queuedAtLastCheck = 0;
  readonly #messages: StarChannel;
  /** A collective call is pending / the message layer waits: either refs the link (§6.1, §12.4). */
  #callActive = false;
  #messagesActive = false;
  /** The source of the MessageMore piece the reader is placing (its prefix sink). */
  #placingFrom = -1;
  /** Direct links to other workers (§14), by rank; null where messages go through rank 0. */
  readonly #peers: Array<Connection | null>;
  /** Why a direct link ended cleanly (its rank closed or exited); messages to it are refused. */
  readonly #peerEnded: Array<CommError | null>;

  constructor(settings: StarSettings, connection: Connection) {
    this.#s = settings;
    this.name = backendOf(settings);
    this.rank = settings.rank;
    this.size = settings.size;
    this.#connection = connection;
    this.#peers = new Array<Connection | null>(settings.size).fill(null);
    this.#peerEnded = new Array<CommError | null>(settings.size).fill(null);
    this.#messages = new StarChannel(
      settings.rank,
      settings.size,
      settings.chunkBytes,
      settings.timeoutMs / 1000,
      settings.stallWarningMs / 1000,
      {
        route: (dest) => this.#route(dest),
        keepAlive: (active) => {
          this.#messagesActive = active;
          this.#applyRef();
        },
        endGroup: (error) => this.#endGroup(error),
      },
    );
    this.channel = this.#messages;
    this.#smallBytes = settings.smallBytes;
    // Idle, the connection does not keep the process alive (spec §6.1): ref'd only while a call is pending.
    connection.link.unref();
    this.#clock = new StallClock(
      settings.timeoutMs * COORDINATOR_SILENCE_FACTOR,
      settings.stallWarningMs * COORDINATOR_SILENCE_FACTOR,
      (ms, fatal) => this.#onSilence(ms, fatal),
    );
    connection.onFrame = (tag, payload, placed) => this.#onFrame(tag, payload, placed);
    connection.reader.sink = (tag, bytes) => this.#destinationFor(tag, bytes);
    // A message's pieces go straight into its buffer once their source is read (§12.1).
    connection.reader.prefixSink = {
      prefixBytes: (tag) => (tag === Tag.MessageMore ? MORE_FIXED_BYTES : 0),
      sink: (_tag, prefix, restBytes) => {
        const source = prefix.readUInt32BE(0);
        const place = this.#messages.placeFor(source, restBytes);
        if (place) this.#placingFrom = source;
        return place;
      },
    };
    connection.onEnd = (error) => {
      if (this.#closing || this.#coordinatorGone) return;
      const lost = `rank 0 (the coordinator) ${whyEnded(error)}`;
      const pending = this.#pending;
      // Stopped past the timeout, this rank is the one rank 0 gave up on: its Timeout frame may
      // have been queued behind data that never reached this rank before rank 0 closed (spec §7.2).
      if (pending && this.#clock.notRunningMs >= this.#s.timeoutMs) {
        const detail = `this process was not running for ${formatSecs(this.#clock.notRunningMs)} during it, then ${lost}`;
        const seconds = this.#s.timeoutMs / 1000;
        this.#fail(
          gaveUpOnThisRank(
            pending.fp.kind,
            pending.sequence,
            this.rank,
            [this.rank],
            seconds,
            detail,
            this.name,
          ),
        );
        return;
      }
      this.#fail(peerFailed(pending?.fp.kind ?? 'collective', 0, `(the coordinator) ${whyEnded(error)}`));
    };
  }

  /** This end's address on the link to rank 0: where a direct-link listener binds (§14.1). */
  get localHost(): string | undefined {
    return this.#connection.link.localHost;
  }

  /**
   * Takes over an authenticated direct link to worker `peer` (§14.3): from now on messages to and
   * from `peer` travel on it, not through rank 0. Called before any message is posted (formation).
   */
  attachPeer(peer: number, connection: Connection): void {
    if (peer < 1 || peer >= this.size || peer === this.rank || this.#peers[peer] !== null)
      throw new Error(`internal error: rank ${this.rank} attaching a direct link to rank ${peer}`);
    this.#peers[peer] = connection;
    // Idle links never keep the process alive: rank 0's link is ref'd while anything waits (§6.1).
    connection.link.unref();
    let placingFrom = -1;
    connection.onFrame = (tag, payload, placed) => {
      if (this.#failure || this.#closing) return;
      if (tag === Tag.MessageFrom) {
        const start = decodeMessageStart(payload);
        this.#checkPeer(peer, start.peer);
        this.#messages.start(peer, start.bytes, start.header, start.piece);
        return;
      }
      if (tag === Tag.MessageMore) {
        if (placed) return this.#messages.placed(placingFrom, payload.length);
        this.#checkPeer(peer, decodeMorePeer(payload));
        this.#messages.more(peer, payload.subarray(MORE_FIXED_BYTES));
        return;
      }
      throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} is not sent on a direct link`);
    };
    connection.reader.prefixSink = {
      prefixBytes: (tag) => (tag === Tag.MessageMore ? MORE_FIXED_BYTES : 0),
      sink: (_tag, prefix, restBytes) => {
        const source = prefix.readUInt32BE(0);
        if (source !== peer) return null;
        const place = this.#messages.placeFor(source, restBytes);
        if (place) placingFrom = source;
        return place;
      },
    };
    connection.onEnd = (error) => {
      if (this.#closing || this.#failure) return;
      const why = `(its direct link to rank ${this.rank}) ${whyEnded(error)}`;
      // A clean end after whole frames is the peer closing or exiting in order: what still waits for
      // it fails, the rest goes on (rank 0 fails later collectives that need it). An error (reset, a
      // broken frame) or an end inside a frame ends the group now, on every rank (§14.4).
      if (error === null && connection.reader.bufferedBytes === 0) {
        const gone = peerFailed('message', peer, why);
        this.#peerEnded[peer] = gone;
        this.#messages.departed(peer, gone);
      } else this.#endGroup(peerFailed('collective', peer, why));
    };
  }

  #checkPeer(peer: number, claimed: number): void {
    if (claimed !== peer)
      throw protocolError(
        'BAD_PAYLOAD',
        `rank ${peer}'s direct link carried a message naming rank ${claimed}`,
      );
  }

  #route(dest: number): { connection: Connection; relayed: boolean } | CommError {
    if (this.#closing) return closedForMessages();
    if (dest === 0 && this.#coordinatorGone) return this.#coordinatorGone;
    const peer = this.#peers[dest];
    if (peer) return this.#peerEnded[dest] ?? { connection: peer, relayed: false };
    return { connection: this.#connection, relayed: true };
  }

  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray): Promise<void> {
    // AllreduceSend repeats the op and dtype codes (fingerprint word 0, bytes 2 and 1) in every chunk.
    const words = encodeFingerprint(fp);
    const prefix = allreducePrefix(words[0] as number);
    return this.#call(Action.allreduce, fp, bytesOf(send), [bytesOf(recv)], Tag.AllreduceSend, prefix, words);
  }

  allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> {
    const recvBytes = bytesOf(recv);
    const e = recv.BYTES_PER_ELEMENT;
    const segments = counts.flatMap((count, r) =>
      r === this.rank
        ? []
        : [recvBytes.subarray((displs[r] as number) * e, ((displs[r] as number) + count) * e)],
    );
    // The own block is placed on Go: on a mismatch the caller's recv stays untouched.
    const own = { recv, send, at: displs[this.rank] as number };
    return this.#call(
      Action.allgatherv,
      fp,
      bytesOf(send),
      segments,
      Tag.AllgathervSend,
      undefined,
      undefined,
      own,
    );
  }

  broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> {
    const mine = root === this.rank;
    return this.#call(
      Action.broadcast,
      fp,
      mine ? bytesOf(buf) : EMPTY,
      mine ? [] : [bytesOf(buf)],
      Tag.Broadcast,
    );
  }

  barrier(fp: Fingerprint): Promise<void> {
    return this.#call(Action.barrier, fp, EMPTY, [], Tag.BarrierReady);
  }

  async createSharedRegion<T extends NumericArray>(
    fp: Fingerprint,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>> {
    await this.barrier(fp);
    return new HeapRegion(allocate<T>('createSharedRegion', dtype, count));
  }

  async splitLocal(): Promise<Communicator> {
    return createOneRankCommunicator();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#clock.stop();
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(closedInFlight(pending.fp.kind));
    this.#messages.failed(closedForMessages());
    this.#connection.reader.detachSink();
    this.#connection.onFrame = () => {};
    this.#connection.send(Tag.Shutdown);
    // Until the Shutdown has left and the link is closed, `await close()` keeps the process alive.
    this.#connection.link.ref();
    const peers = this.#peers.filter((c): c is Connection => c !== null);
    for (const peer of peers) {
      peer.reader.detachSink();
      peer.onFrame = () => {};
      // As rank 0's link: until each link has closed, `await close()` keeps the process alive.
      peer.link.ref();
    }
    this.#closing = closeConnections([this.#connection, ...peers]);
    return this.#closing;
  }

  #call(
    action: ActionCode,
    fp: Fingerprint,
    data: Uint8Array,
    segments: Uint8Array[],
    dataTag: number,
    prefix?: Uint8Array,
    words: Int32Array = encodeFingerprint(fp),
    ownBlock: PendingCall['ownBlock'] = null,
  ): Promise<void> {
    if (this.#closing) return Promise.reject(closedInFlight(fp.kind));
    if (this.#failure) return Promise.reject(alreadyFailed(fp.kind, this.#failure));
    if (this.#coordinatorGone) return Promise.reject(alreadyFailed(fp.kind, this.#coordinatorGone));
    const sequence = this.#sequence++;
    const begin = encodeBegin({
      sequence,
      action,
      fingerprint: words,
      contributionBytes: data.byteLength,
    });
    this.#callActive = true;
    this.#applyRef();
    return new Promise<void>((resolve, reject) => {
      this.#pending = {
        sequence,
        action,
        fp,
        segments: segments.every((s) => s.byteLength > 0)
          ? segments
          : segments.filter((s) => s.byteLength > 0),
        segment: 0,
        offset: 0,
        ownBlock,
        resolve: () => {
          this.#callActive = false;
          this.#applyRef();
          resolve();
        },
        reject: (error) => {
          this.#callActive = false;
          this.#applyRef();
          reject(error);
        },
      };
      this.#clock.reset();
      const c = this.#connection;
      if (action === Action.barrier) {
        c.send(Tag.BarrierReady, begin);
        return;
      }
      // Small: the data rides in the Begin, one frame (spec §2.5).
      if (data.byteLength > 0 && data.byteLength <= this.#smallBytes) {
        c.send(Tag.Begin, begin, BEGIN_DATA_PAD, data);
        this.#queuedAtLastCheck = c.link.bufferedBytes;
        return;
      }
      // Begin and the data leave together: one buffer (small) or one corked writev (large).
      const frames: Array<readonly [number, readonly Uint8Array[]]> = [[Tag.Begin, [begin]]];
      for (let at = 0; at < data.byteLength; at += this.#s.chunkBytes) {
        const chunk = data.subarray(at, Math.min(data.byteLength, at + this.#s.chunkBytes));
        frames.push([dataTag, prefix ? [prefix, chunk] : [chunk]]);
      }
      c.sendAll(frames);
      this.#queuedAtLastCheck = c.link.bufferedBytes;
    });
  }

  /** Streamed data goes straight into the caller's result when the frame fits the current segment. */
  #destinationFor(tag: number, bytes: number): Uint8Array | null {
    const pending = this.#pending;
    if (!pending || RECV_TAG[pending.action] !== tag) return null;
    const target = pending.segments[pending.segment];
    if (!target || target.byteLength - pending.offset < bytes) return null;
    return target.subarray(pending.offset, pending.offset + bytes);
  }

  #onFrame(tag: number, payload: Buffer, placed: boolean): void {
    this.#clock.progress();
    if (this.#failure || this.#closing) return;
    const pending = this.#pending;
    switch (tag) {
      // Messages (§12) interleave with rounds frame by frame: they never touch the pending call.
      case Tag.MessageFrom: {
        const start = decodeMessageStart(payload);
        this.#checkSource(start.peer);
        this.#messages.start(start.peer, start.bytes, start.header, start.piece);
        return;
      }
      case Tag.MessageMore: {
        if (placed) {
          this.#messages.placed(this.#placingFrom, payload.length);
          return;
        }
        const source = decodeMorePeer(payload);
        this.#checkSource(source);
        this.#messages.more(source, payload.subarray(MORE_FIXED_BYTES));
        return;
      }
      case Tag.AllreduceRecv:
      case Tag.AllgathervRecv:
      case Tag.Broadcast:
        if (!pending || RECV_TAG[pending.action] !== tag)
          throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} outside a matching collective`);
        if (placed) this.#advance(pending, payload.length);
        else this.#place(pending, payload);
        return;
      case Tag.BarrierGo:
        this.#go(pending, decodeSequence(payload, 'Go'), 'Go');
        return;
      case Tag.Result: {
        // The rest of the result and the Go in one frame (spec §2.5).
        if (payload.length < RESULT_HEADER_BYTES)
          throw protocolError('BAD_PAYLOAD', `Result payload shorter than ${RESULT_HEADER_BYTES} bytes`);
        const sequence = payload.readUInt32BE(0);
        if (!pending || sequence !== pending.sequence)
          throw protocolError('UNEXPECTED_FRAME', `Result for collective #${sequence} while none is pending`);
        if (payload.length > RESULT_HEADER_BYTES) this.#place(pending, payload.subarray(RESULT_HEADER_BYTES));
        this.#go(pending, sequence, 'Result');
        return;
      }
      case Tag.Mismatch: {
        const { sequence, fingerprints } = decodeMismatch(payload);
        if (!pending || sequence !== pending.sequence || fingerprints.length !== this.size) {
          throw protocolError(
            'UNEXPECTED_FRAME',
            `Mismatch for collective #${sequence} while none is pending`,
          );
        }
        this.#pending = null;
        pending.reject(
          mismatchError(
            pending.fp.kind,
            sequence,
            fingerprints.map((w) => decodeFingerprint(w)),
          ),
        );
        return;
      }
      case Tag.Warning: {
        const { sequence, stalledMs, ranks, detail } = decodeSilentRanks(payload);
        const kind = pending?.fp.kind ?? 'collective';
        const message = stallWarningMessage(sequence, kind, ranks, stalledMs, this.#s.timeoutMs / 1000);
        this.#s.warnStall(`${this.name} rank ${this.rank}: ${message}${detail === '' ? '' : `; ${detail}`}`);
        return;
      }
      case Tag.Timeout: {
        const { sequence, ranks, detail } = decodeSilentRanks(payload);
        const seconds = this.#s.timeoutMs / 1000;
        const kind = pending?.fp.kind ?? 'collective';
        // A rank rank 0 gave up on hears it about itself, not as if it had waited for someone.
        this.#fail(
          ranks.includes(this.rank)
            ? gaveUpOnThisRank(kind, sequence, this.rank, ranks, seconds, detail, this.name)
            : timedOut(kind, sequence, ranks, seconds, detail),
        );
        return;
      }
      case Tag.Abort: {
        const { rank, reason } = decodeAbort(payload);
        this.#fail(peerFailed(pending?.fp.kind ?? 'collective', rank, reason));
        return;
      }
      case Tag.Shutdown: {
        const gone = peerFailed(
          pending?.fp.kind ?? 'collective',
          0,
          '(the coordinator) closed its communicator',
        );
        // A call in flight needs rank 0. Otherwise rank 0 left in order, after every frame it sent:
        // messages between the other ranks (direct links, §14.4) may still be finishing — a direct
        // collective that rank 0 completed first — so only what needs rank 0 fails from now on.
        if (pending || this.#peers.every((p) => p === null)) {
          this.#fail(gone);
          return;
        }
        this.#coordinatorGone = gone;
        this.#clock.stop();
        this.#connection.onFrame = () => {};
        this.#messages.departed(0, peerFailed('message', 0, '(the coordinator) closed its communicator'));
        return;
      }
      default:
        throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} is not sent by rank 0 after the handshake`);
    }
  }

  /** Go (or a Result's end) for `sequence`: the pending call is complete once all its data is in. */
  #go(pending: PendingCall | null, sequence: number, what: string): void {
    if (!pending || sequence !== pending.sequence)
      throw protocolError('UNEXPECTED_FRAME', `${what} for collective #${sequence} while none is pending`);
    if (pending.segment < pending.segments.length)
      throw protocolError('BAD_PAYLOAD', `${what} before all data of collective #${sequence} arrived`);
    this.#pending = null;
    const own = pending.ownBlock;
    if (own) (own.recv as Float64Array).set(own.send as Float64Array, own.at);
    pending.resolve();
  }

  /** Copies streamed bytes into the pending call's destination segments, in order. */
  #place(pending: PendingCall, payload: Buffer): void {
    let at = 0;
    while (at < payload.length) {
      const target = pending.segments[pending.segment];
      if (!target)
        throw protocolError('BAD_PAYLOAD', `more data than collective #${pending.sequence} expects`);
      const take = Math.min(target.byteLength - pending.offset, payload.length - at);
      target.set(payload.subarray(at, at + take), pending.offset);
      at += take;
      pending.offset += take;
      if (pending.offset === target.byteLength) {
        pending.segment++;
        pending.offset = 0;
      }
    }
  }

  #advance(pending: PendingCall, bytes: number): void {
    pending.offset += bytes;
    if (pending.offset === (pending.segments[pending.segment] as Uint8Array).byteLength) {
      pending.segment++;
      pending.offset = 0;
    }
  }

  #onSilence(stalledMs: number, fatal: boolean): boolean {
    if (!this.#pending || this.#failure || this.#closing) return false;
    // Bytes of ours leaving since the last check: rank 0 is reading them, so it is not silent.
    const queued = this.#connection.link.bufferedBytes;
    if (queued !== this.#queuedAtLastCheck) {
      this.#queuedAtLastCheck = queued;
      this.#clock.progress();
      return false;
    }
    // Rank 0 normally decides timeouts for everyone; this fires only when rank 0 itself went silent.
    const { fp, sequence } = this.#pending;
    const detail = `rank 0 (the coordinator) sent nothing for ${formatSecs(stalledMs)}`;
    if (fatal) {
      this.#fail(timedOut(fp.kind, sequence, [0], this.#s.timeoutMs / 1000, detail));
      return true;
    }
    const message = stallWarningMessage(sequence, fp.kind, [0], stalledMs, this.#s.timeoutMs / 1000);
    this.#s.warnStall(`${this.name} rank ${this.rank}: ${message}; ${detail}`);
    return true;
  }

  #checkSource(source: number): void {
    if (source >= this.size || source === this.rank)
      throw protocolError(
        'BAD_PAYLOAD',
        `message from rank ${source} to rank ${this.rank} (group of ${this.size})`,
      );
  }

  /** The link is ref'd while a collective or the message layer waits; close() refs it itself. */
  #applyRef(): void {
    if (this.#closing) return;
    const active = this.#callActive || this.#messagesActive;
    if (active) this.#connection.link.ref();
    else this.#connection.link.unref();
    // A message may wait on a direct link alone (rank 0's link may have closed, §14.4).
    for (const peer of this.#peers) {
      if (peer === null) continue;
      if (active) peer.link.ref();
      else peer.link.unref();
    }
  }

  /** The message layer ends the group (§12.5): rank 0 hears Fail and aborts the others; this rank fails with `error`. */
  #endGroup(error: CommError): void {
    if (this.#failure || this.#closing) return;
    this.#connection.send(Tag.Fail, encodeFail(error));
    this.#fail(error);
  }

  #fail(error: CommError): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#announceFailure(error);
    this.#messages.failed(error);
    this.#clock.stop();
    this.#connection.reader.detachSink();
    // A piece being placed into a receive's buffer must not land after its rejection.
    for (const peer of this.#peers) peer?.reader.detachSink();
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(error);
  }
}

const EMPTY = new Uint8Array(0);

/** AllreduceSend prefixes by op and dtype: made once, never written after, so frames may share them. */
const PREFIXES = new Map<number, Uint8Array>();

function allreducePrefix(word0: number): Uint8Array {
  const key = (word0 >>> 8) & 0xffff;
  let prefix = PREFIXES.get(key);
  if (!prefix) {
    prefix = new Uint8Array(ALLREDUCE_PREFIX_BYTES);
    prefix[0] = (word0 >>> 16) & 0xff;
    prefix[1] = (word0 >>> 8) & 0xff;
    PREFIXES.set(key, prefix);
  }
  return prefix;
}
