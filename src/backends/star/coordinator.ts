/**
 * Rank 0's backend: the star's centre (spec/backend-tcp.md §4–§7). Every collective is a round: rank
 * 0 waits for every rank's Begin (its own call included), compares fingerprints, then streams —
 * reducing chunk by chunk in rank order, or relaying blocks in rank order — and ends the round with
 * Go. A mismatch ends the round with Mismatch instead, and the rest of its data is consumed and
 * dropped. Peer loss, protocol violations and stalls end the group with Abort or Timeout.
 */
import type { PairChannel } from '../../communicator/messages/channel.js';
import type { Backend, Communicator, SharedRegion } from '../../communicator/communicator.js';
import type { DType, NumericArray } from '../../communicator/dtypes.js';
import { CommError, stallWarningMessage } from '../../communicator/errors.js';
import {
  decodeFingerprint,
  encodeFingerprint,
  mismatchError,
  type Fingerprint,
} from '../../communicator/fingerprint.js';
import { HeapRegion } from '../../communicator/heap-region.js';
import { allocate } from '../../communicator/validate.js';
import type { Admission } from './admission.js';
import type { Connection } from './connection.js';
import { isComplete, type Contribution } from './contribution.js';
import {
  alreadyFailed,
  closedForMessages,
  closedInFlight,
  formatBytes,
  formatSecs,
  peerFailed,
  timedOut,
  whyEnded,
} from './failures.js';
import type { StarBackendName } from './options.js';
import { backendOf, type StarSettings } from './settings.js';
import {
  Action,
  ALLREDUCE_PREFIX_BYTES,
  decodeBegin,
  encodeAbort,
  encodeMismatch,
  encodeSequence,
  encodeSilentRanks,
  MAX_FRAME_PAYLOAD,
  protocolError,
  Tag,
  tagName,
  type ActionCode,
} from './protocol.js';
import { RoundProgress, type LocalCall } from './round.js';
import { createOneRankCommunicator } from '../../communicator/one-rank.js';
import { closeConnections, StallClock } from './lifecycle.js';
import { decodeFail } from './message-frames.js';
import { Relay } from './relay.js';
import { StagingRing } from './staging.js';
import { StarChannel } from './star-channel.js';

/**
 * Everything rank 0 holds for one worker across rounds — the unused data of its current contribution,
 * every byte of the contributions it sent ahead, and CONTRIBUTION_OVERHEAD_BYTES per contribution —
 * before it stops reading that worker (bytes, spec §5.1). Reading resumes below half of it.
 */
export const HOLD_LIMIT_BYTES = 32 * 1024 * 1024;
// §5.4 (2): the rank a round waits on holds at most one partly used frame, which must sit below the
// mark where reading resumes, or a paused rank could starve the round it is needed for.
if (MAX_FRAME_PAYLOAD >= HOLD_LIMIT_BYTES / 2) {
  throw new Error('internal error: MAX_FRAME_PAYLOAD must stay below HOLD_LIMIT_BYTES / 2 (spec §5.4)');
}

/**
 * What one queued contribution costs besides its data (bytes): its record, fingerprint and frame
 * list, rounded up. Charged to the hold limit, so a flood of empty Begins is bounded too.
 */
export const CONTRIBUTION_OVERHEAD_BYTES = 1024;

/** Two fingerprints, as the int32 words of encodeFingerprint, are equal. */
function sameWords(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
  return true;
}

/** Why a worker that sent Shutdown is named in CollectiveFailed. */
const DEPARTED = 'closed its communicator';

/** Which data tag a worker uses for each action's contribution. */
const SEND_TAG: Record<number, number> = {
  [Action.allreduce]: Tag.AllreduceSend,
  [Action.allgatherv]: Tag.AllgathervSend,
  [Action.broadcast]: Tag.Broadcast,
};

export class CoordinatorBackend implements Backend {
  readonly name: StarBackendName;
  readonly rank = 0;
  readonly isLeader = true;
  readonly channel: PairChannel;
  readonly size: number;
  readonly #s: StarSettings;
  readonly #peers: Connection[];
  /** #peers without rank 0's empty slot: the hot path iterates it without allocating. */
  readonly #workers: Connection[];
  readonly #admission: Admission;
  /** Per worker rank: its contributions not yet consumed, the head belonging to the current round. */
  readonly #queues: Contribution[][];
  readonly #begun: number[];
  /** Worker ranks whose link is paused because rank 0 holds too much of their data. */
  readonly #held = new Set<number>();
  /** Messages between workers (§12.2): forwarded at once, sources paused while a destination is slow. */
  readonly #relay: Relay;
  readonly #messages: StarChannel;
  /** A collective call of rank 0 is in flight (until it settles): the links are ref'd (§6.1). */
  #callActive = false;
  /** The message layer waits for something (§12.4): the links are ref'd. */
  #messagesActive = false;
  /**
   * Per worker rank: bytes held for the contributions queued behind its head — each one's data
   * received plus CONTRIBUTION_OVERHEAD_BYTES (those are never consumed, discarded or placed before
   * they become the head). With the head's unused bytes it is what #heldFor measures.
   */
  readonly #ahead: number[];
  /** Per worker rank: where its allreduce chunks land (see #destinationFor). */
  readonly #staging: StagingRing[];
  #sequence = 0;
  #local: LocalCall | null = null;
  #progress: RoundProgress | null = null;
  /**
   * Rank 0's finished call whose result is still leaving as views of the caller's buffers: it
   * resolves once the kernel has taken them; the stall clock, a peer failure and close() reject it.
   */
  #flushing: LocalCall | null = null;
  /** Bytes queued in the peers' links at the last stall tick while #flushing (progress detector). */
  #queuedAtLastTick = -1;
  #failure: CommError | null = null;
  /**
   * Workers that left while #flushing, after every frame to them had left — closing in an orderly
   * way, or their link just ending (a process that exits without close()): the flushing call still
   * completes for the others; the group fails once it has, naming the first of them (spec §7.1).
   */
  readonly #departed: Array<{ rank: number; why: string }> = [];
  /**
   * Direct links join the workers (backend-tcp §14): a worker that leaves in order between calls may
   * still have data of a direct collective arriving at other ranks, so its departure is recorded and
   * fails the next round that needs it, not the group at once (§14.4).
   */
  readonly #lazyDepartures: boolean;
  #closing: Promise<void> | null = null;
  readonly #clock: StallClock;
  /** A worker's result of at most this many bytes leaves in one Result frame with its Go (spec §2.5). */
  readonly #smallBytes: number;
  /** Per worker rank: when rank 0 last read a frame of it (performance.now() ms), for stall reports. */
  readonly #lastHeard: number[];
  /** Per worker rank: the kind of the last round it took part in (sequence #sequence − 1), for stall reports. */
  readonly #lastKind: string[] = [];

  constructor(settings: StarSettings, peers: Connection[], admission: Admission) {
    this.#s = settings;
    this.name = backendOf(settings);
    this.size = settings.size;
    this.#peers = peers;
    this.#messages = new StarChannel(
      0,
      settings.size,
      settings.chunkBytes,
      settings.timeoutMs / 1000,
      settings.stallWarningMs / 1000,
      {
        route: (dest) => {
          const connection = this.#connectionTo(dest);
          return connection instanceof CommError ? connection : { connection, relayed: false };
        },
        keepAlive: (active) => {
          this.#messagesActive = active;
          this.#applyRefs();
        },
        endGroup: (error) => this.#endGroup(error),
      },
    );
    this.channel = this.#messages;
    this.#relay = new Relay(settings.size, peers, this.#messages, (rank, on) => this.#relayPause(rank, on));
    this.#workers = peers.slice(1);
    this.#lazyDepartures = (settings.algorithms?.algorithm ?? 'star') !== 'star' && settings.size > 2;
    this.#admission = admission;
    this.#smallBytes = settings.smallBytes;
    this.#queues = peers.map(() => []);
    this.#begun = peers.map(() => 0);
    this.#ahead = peers.map(() => 0);
    this.#staging = peers.map(() => new StagingRing());
    this.#lastHeard = peers.map(() => performance.now());
    this.#clock = new StallClock(settings.timeoutMs, settings.stallWarningMs, (stalledMs, fatal) =>
      this.#onStall(stalledMs, fatal),
    );
    for (let r = 1; r < this.size; r++) {
      const peer = peers[r] as Connection;
      // Idle, the connections do not keep the process alive (spec §6.1): ref'd while a call is in flight.
      peer.link.unref();
      peer.onFrame = (tag, payload, placed) => this.#onFrame(r, tag, payload, placed);
      peer.reader.sink = (tag, bytes) =>
        Relay.destinationFor(tag, bytes) ?? this.#destinationFor(r, tag, bytes);
      peer.reader.prefixSink = this.#relay.prefixSinkFor(r);
      peer.onEnd = (error) => {
        if (this.#closing || this.#departed.some((d) => d.rank === r)) return;
        // A clean end once every frame to it had left is a departure, as an orderly close is
        // (#onShutdown); an error (a reset: it dropped unread bytes) is not.
        if (error === null && this.#mayDepart(peer.unflushedAtEnd)) {
          this.#departed.push({ rank: r, why: whyEnded(error) });
          return;
        }
        if (error === null && peer.unflushedAtEnd === 0 && this.#departsBetweenCalls()) {
          this.#departBetweenCalls(r, whyEnded(error));
          return;
        }
        const during = this.#partialSend(r);
        this.#failGroup(r, during === '' ? whyEnded(error) : `${whyEnded(error)} ${during}`);
      };
    }
  }

  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray): Promise<void> {
    return this.#call(Action.allreduce, fp, send, recv);
  }

  allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> {
    return this.#call(Action.allgatherv, fp, send, recv, counts, displs);
  }

  broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> {
    return this.#call(Action.broadcast, fp, buf, buf, undefined, undefined, root);
  }

  barrier(fp: Fingerprint): Promise<void> {
    return this.#call(Action.barrier, fp);
  }

  async createSharedRegion<T extends NumericArray>(
    fp: Fingerprint,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>> {
    // Ranks share no memory: agree that every rank asked for the same region, then each holds its own.
    await this.#call(Action.barrier, fp);
    return new HeapRegion(allocate<T>('createSharedRegion', dtype, count));
  }

  async splitLocal(): Promise<Communicator> {
    return createOneRankCommunicator();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#clock.stop();
    const local = this.#local ?? this.#flushing;
    this.#local = null;
    this.#flushing = null;
    local?.reject(closedInFlight(local.fp.kind));
    this.#messages.failed(closedForMessages());
    this.#admission.close();
    this.#stopPlacing();
    // A paused link would never read the peer's FIN: close would wait out CLOSE_GRACE_MS.
    for (const rank of this.#held) this.#peers[rank]?.link.resume();
    this.#held.clear();
    this.#relay.release();
    for (const ring of this.#staging) ring.release();
    const live = this.#workers.filter((p) => !p.ended);
    for (const peer of live) {
      peer.onFrame = () => {};
      peer.send(Tag.Shutdown);
      // Until the Shutdown has left and the link is closed, `await close()` keeps the process alive.
      peer.link.ref();
    }
    this.#closing = closeConnections(live);
    return this.#closing;
  }

  #call(
    action: ActionCode,
    fp: Fingerprint,
    send?: NumericArray,
    recv?: NumericArray,
    counts?: readonly number[],
    displs?: readonly number[],
    root?: number,
  ): Promise<void> {
    if (this.#closing) return Promise.reject(closedInFlight(fp.kind));
    if (this.#failure) return Promise.reject(alreadyFailed(fp.kind, this.#failure));
    if (this.#failIfDeparted())
      return Promise.reject(alreadyFailed(fp.kind, this.#failure as unknown as CommError));
    this.#refWorkers(true);
    return new Promise<void>((resolve, reject) => {
      // Every field written, in one order: one object shape for all calls (a spread of optional
      // fields cost ~2 µs per small collective).
      this.#local = {
        action,
        fp,
        words: encodeFingerprint(fp),
        send,
        recv,
        counts,
        displs,
        root,
        resolve: () => {
          this.#refWorkers(false);
          resolve();
        },
        reject: (error) => {
          this.#refWorkers(false);
          reject(error);
        },
      };
      this.#clock.progress();
      this.#pump();
      this.#release();
    });
  }

  /** A call in flight (until it settles, its flush included) keeps the process alive; an idle communicator does not. */
  #refWorkers(on: boolean): void {
    this.#callActive = on;
    this.#applyRefs();
  }

  /** The links are ref'd while a collective call or the message layer waits (§6.1, §12.4). */
  #applyRefs(): void {
    if (this.#closing) return;
    const on = this.#callActive || this.#messagesActive;
    for (const peer of this.#workers) {
      if (on) peer.link.ref();
      else peer.link.unref();
    }
  }

  /** Where rank 0's own messages to `dest` go: its link, or why it is gone. */
  #connectionTo(dest: number): Connection | CommError {
    if (this.#closing) return closedForMessages();
    const peer = this.#peers[dest] as Connection;
    if (peer.ended) return peerFailed('send', dest, 'left the group (its connection ended)');
    return peer;
  }

  /** The relay stops (or resumes) reading a source; the hold of §5.4 may keep it paused. */
  #relayPause(rank: number, on: boolean): void {
    if (this.#held.has(rank) || this.#closing) return;
    const link = this.#peers[rank]?.link;
    if (on) link?.pause();
    else link?.resume();
  }

  #onFrame(rank: number, tag: number, payload: Buffer, placed: boolean): void {
    if (this.#failure || this.#closing) return;
    this.#lastHeard[rank] = performance.now();
    // Messages (§12) interleave with rounds frame by frame: they never touch a round's state.
    if (tag === Tag.MessageTo || tag === Tag.MessageMore) {
      this.#relay.onFrame(rank, tag, payload, placed);
      return;
    }
    if (tag === Tag.Fail) {
      const { reason } = decodeFail(payload);
      this.#failGroup(rank, `ended the group: ${reason}`, false);
      return;
    }
    const queue = this.#queues[rank] as Contribution[];
    const last = queue[queue.length - 1];
    if (tag === Tag.Begin || tag === Tag.BarrierReady) {
      if (this.#failIfDeparted()) return;
      if (last && !isComplete(last))
        throw protocolError(
          'UNEXPECTED_FRAME',
          `${tagName(tag)} before the data of collective #${last.sequence} was complete`,
        );
      const begin = decodeBegin(payload);
      if ((tag === Tag.BarrierReady) !== (begin.action === Action.barrier)) {
        throw protocolError('BAD_PAYLOAD', `${tagName(tag)} carries action ${begin.action}`);
      }
      const expected = this.#begun[rank] as number;
      if (begin.sequence !== expected)
        throw protocolError(
          'UNEXPECTED_FRAME',
          `Begin of collective #${begin.sequence}, expected #${expected}`,
        );
      let fingerprint: Fingerprint;
      try {
        fingerprint = decodeFingerprint(begin.fingerprint);
      } catch (error) {
        throw protocolError('BAD_PAYLOAD', (error as Error).message);
      }
      if (begin.action === Action.barrier && begin.contributionBytes !== 0)
        throw protocolError('BAD_PAYLOAD', 'a barrier carries no data');
      this.#begun[rank] = expected + 1;
      if (last !== undefined) this.#ahead[rank] = (this.#ahead[rank] as number) + CONTRIBUTION_OVERHEAD_BYTES;
      const contribution: Contribution = {
        sequence: begin.sequence,
        action: begin.action,
        words: begin.fingerprint,
        fingerprint,
        bytes: begin.contributionBytes,
        received: 0,
        frames: [],
        framesStart: 0,
        discard: false,
      };
      queue.push(contribution);
      // A small contribution rides in its Begin (spec §2.5): taken as a data frame would be.
      if (begin.data) this.#take(rank, contribution, begin.data, false);
      else if (this.#heldFor(rank) > HOLD_LIMIT_BYTES) this.#hold(rank);
    } else if (tag === Tag.AllreduceSend || tag === Tag.AllgathervSend || tag === Tag.Broadcast) {
      if (!last || isComplete(last))
        throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} outside a collective`);
      if (SEND_TAG[last.action] !== tag)
        throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} in a ${last.fingerprint.kind}`);
      let data: Uint8Array = payload;
      if (tag === Tag.AllreduceSend) {
        if (payload.length < ALLREDUCE_PREFIX_BYTES)
          throw protocolError('BAD_PAYLOAD', 'AllreduceSend without op and dtype bytes');
        const words0 = last.words[0] as number;
        if (payload[0] !== ((words0 >>> 16) & 0xff) || payload[1] !== ((words0 >>> 8) & 0xff)) {
          throw protocolError('BAD_PAYLOAD', 'AllreduceSend op/dtype differ from its Begin');
        }
        data = payload.subarray(ALLREDUCE_PREFIX_BYTES);
      }
      // A relay payload placed by the sink is already in rank 0's recv; everything else is kept
      // (allreduce payloads placed in the rank's staging area included) until used.
      this.#take(rank, last, data, placed && tag !== Tag.AllreduceSend);
    } else if (tag === Tag.Shutdown) {
      this.#onShutdown(rank);
      return;
    } else {
      throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} is not sent by a worker after the handshake`);
    }
    this.#clock.progress();
    this.#dropCompletedDiscards();
    this.#pump();
    this.#release();
  }

  /** Counts a worker's data for its newest contribution and keeps it until used (spec §5.1, §5.4). */
  #take(rank: number, last: Contribution, data: Uint8Array, inRecv: boolean): void {
    const queue = this.#queues[rank] as Contribution[];
    if (last.received + data.byteLength > last.bytes)
      throw protocolError('BAD_PAYLOAD', `more data than the ${last.bytes} bytes announced`);
    last.received += data.byteLength;
    if (last !== queue[0]) this.#ahead[rank] = (this.#ahead[rank] as number) + data.byteLength;
    // Discarded data is dropped on arrival: nothing of it is held.
    if (last.discard) last.framesStart = last.received;
    // Kept until used: a copy if it lies in the link's borrowed read buffer (§11.2).
    if (!last.discard && !inRecv && data.byteLength > 0) last.frames.push(this.#keep(rank, data));
    if (this.#heldFor(rank) > HOLD_LIMIT_BYTES) this.#hold(rank);
  }

  /** `data` to hold past this frame's call; payloads placed in staging or recv are rank 0's own. */
  #keep(rank: number, data: Uint8Array): Uint8Array {
    return (this.#peers[rank] as Connection).owned(data);
  }

  /**
   * Where the reader puts a data frame's payload: allreduce chunks go to the rank's staging ring
   * (spec §5.3: at most STAGING_BUDGET_BYTES, reused, 8-byte aligned, so chunks are reduced in place
   * and no buffer is allocated per frame); relay chunks go straight into rank 0's recv once the
   * round runs.
   */
  #destinationFor(rank: number, tag: number, bytes: number): Uint8Array | null {
    if (tag !== Tag.AllreduceSend) return this.#progress?.destinationFor(rank, tag, bytes) ?? null;
    const queue = this.#queues[rank] as Contribution[];
    const last = queue[queue.length - 1];
    if (!last || last.discard || isComplete(last) || last.action !== Action.allreduce) return null;
    // Only the oldest pending contribution of a rank may use its staging ring.
    if (queue.length > 1 && queue.some((c) => c !== last && !c.discard)) return null;
    return (this.#staging[rank] as StagingRing).slotFor(last, bytes);
  }

  /**
   * What rank 0 holds for a worker (bytes, spec §5.1): its head's data not yet used, the data of every
   * contribution it sent ahead, and each queued contribution's overhead. Data placed in rank 0's recv
   * or dropped (a discarded round) is not held; staged allreduce data counts until reduced.
   */
  #heldFor(rank: number): number {
    const head = (this.#queues[rank] as Contribution[])[0];
    if (head === undefined) return 0;
    const unused = head.discard ? 0 : head.received - head.framesStart;
    return CONTRIBUTION_OVERHEAD_BYTES + unused + (this.#ahead[rank] as number);
  }

  /** The head of a worker's queue leaves; the next contribution, if any, becomes the head. */
  #shift(rank: number): void {
    const queue = this.#queues[rank] as Contribution[];
    queue.shift();
    const next = queue[0];
    this.#ahead[rank] =
      next === undefined ? 0 : (this.#ahead[rank] as number) - CONTRIBUTION_OVERHEAD_BYTES - next.received;
  }

  /**
   * A worker far ahead of the round (or of the slowest rank) stops being read: TCP holds the rest.
   * It cannot starve the round: what the round needs of it came before what it sent ahead, so it is
   * here; and within a round the slowest rank's unused data is at most a frame, so it is never held.
   */
  #hold(rank: number): void {
    if (this.#held.has(rank)) return;
    this.#held.add(rank);
    if (!this.#relay.isPaused(rank)) this.#peers[rank]?.link.pause();
  }

  #release(): void {
    for (const rank of this.#held) {
      if (this.#heldFor(rank) <= HOLD_LIMIT_BYTES / 2) {
        this.#held.delete(rank);
        // Still paused while the relay waits for one of its destinations (§12.2).
        if (!this.#relay.isPaused(rank)) this.#peers[rank]?.link.resume();
      }
    }
  }

  /** Advances rounds as far as the data at hand allows; what it writes leaves in one batch per peer. */
  #pump(): void {
    const workers = this.#workers;
    for (let i = 0; i < workers.length; i++) (workers[i] as Connection).cork();
    try {
      this.#pumpCorked();
    } finally {
      for (let i = 0; i < workers.length; i++) (workers[i] as Connection).uncork();
    }
  }

  #pumpCorked(): void {
    for (;;) {
      if (this.#failure || this.#closing) return;
      if (this.#progress === null) {
        if (!this.#local || !this.#everyRankBegun()) return;
        if (!this.#start()) continue;
      }
      const progress = this.#progress as RoundProgress;
      if (!progress.advance()) return;
      this.#finish();
    }
  }

  #everyRankBegun(): boolean {
    for (let r = 1; r < this.size; r++) {
      const head = (this.#queues[r] as Contribution[])[0];
      if (head === undefined || head.discard) return false;
    }
    return true;
  }

  /** All Begins are in: compare, then stream (true) or abandon the round (false). */
  #start(): boolean {
    const local = this.#local as LocalCall;
    const heads = this.#queues.map((q) => q[0] as Contribution);
    let agree = true;
    for (let r = 1; r < this.size && agree; r++) {
      const head = heads[r] as Contribution;
      agree = head.action === local.action && sameWords(head.words, local.words);
    }
    const sequence = this.#sequence;
    if (!agree) {
      const fingerprints = heads.map((h, r) => (r === 0 ? local.fp : h.fingerprint));
      const actions = heads.map((h, r) => (r === 0 ? local.action : h.action));
      const words = heads.map((h, r) => (r === 0 ? local.words : h.words));
      const frame = encodeMismatch(sequence, actions, words);
      for (const peer of this.#workers) peer.send(Tag.Mismatch, frame);
      this.#local = null;
      local.reject(mismatchError(local.fp.kind, sequence, fingerprints));
      this.#abandon();
      return false;
    }
    const problem = RoundProgress.checkAnnounced(local, heads);
    if (problem) {
      this.#failGroup(
        problem.rank,
        `announced ${problem.bytes} data bytes for collective #${sequence}, expected ${problem.expected}`,
      );
      return false;
    }
    this.#progress = new RoundProgress(local, heads, this.#peers, this.#s.chunkBytes, this.#smallBytes);
    return true;
  }

  /** A mismatched round: drop what has arrived, drop the rest as it comes, and move on. */
  #abandon(): void {
    for (let r = 1; r < this.size; r++) {
      const head = (this.#queues[r] as Contribution[])[0] as Contribution;
      head.discard = true;
      head.frames.length = 0;
      // Nothing is held for it any more: #release may resume a rank paused for this head.
      head.framesStart = head.received;
    }
    this.#advance();
  }

  #finish(): void {
    const local = this.#local as LocalCall;
    const progress = this.#progress as RoundProgress;
    const go = encodeSequence(this.#sequence);
    const peers = this.#workers;
    // A small result and its Go leave as one Result frame (spec §2.5); otherwise Go follows the data.
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i] as Connection;
      const result = progress.resultFor(i + 1);
      if (result === null) peer.send(Tag.BarrierGo, go);
      else if (peer.send(Tag.Result, go, ...result)) progress.referencesCaller = true;
    }
    const referencesCaller = progress.referencesCaller;
    this.#local = null;
    this.#progress = null;
    this.#advance();
    // Rank 0's result may still be on its way out (views of the caller's buffers): resolve once the
    // kernel has taken every byte, so the caller may reuse its arrays. Until then the call is
    // #flushing: the stall clock, a peer failure and close() can still reject it.
    if (!referencesCaller || peers.every((p) => p.writer.unflushedFrames === 0)) {
      local.resolve();
      return;
    }
    this.#flushing = local;
    this.#queuedAtLastTick = -1;
    void Promise.all(peers.map((p) => p.writer.flushed())).then(() => {
      if (this.#flushing !== local) return;
      this.#flushing = null;
      local.resolve();
      // A worker that left meanwhile fails the later collectives, as a Shutdown between calls does.
      const departed = this.#departed[0];
      if (departed !== undefined) this.#failGroup(departed.rank, departed.why);
    });
  }

  /**
   * A worker closed. Its departure fails the call in flight only if that call still needs something
   * from it or still has frames for it; a call only draining its result to other ranks completes.
   */
  #onShutdown(rank: number): void {
    const unflushed = this.#peers[rank]?.writer.unflushedFrames ?? 0;
    if (unflushed === 0 && this.#departsBetweenCalls()) {
      this.#departBetweenCalls(rank, DEPARTED);
      (this.#peers[rank] as Connection).onFrame = () => {};
      return;
    }
    if (!this.#mayDepart(unflushed)) {
      this.#failGroup(rank, DEPARTED);
      return;
    }
    this.#departed.push({ rank, why: DEPARTED });
    // Nothing more is read from it; its link ends when it closes (not a failure of its own).
    (this.#peers[rank] as Connection).onFrame = () => {};
  }

  /** With direct links and no call in flight: a departure is recorded, not the group's end (§14.4). */
  #departsBetweenCalls(): boolean {
    return (
      this.#lazyDepartures &&
      this.#local === null &&
      this.#flushing === null &&
      !this.#failure &&
      !this.#closing &&
      this.#queues.every((queue) => queue.length === 0)
    );
  }

  /** `rank` left between calls: rank 0's messages waiting for it fail; the next round fails the group. */
  #departBetweenCalls(rank: number, why: string): void {
    this.#departed.push({ rank, why });
    this.#messages.departed(rank, peerFailed('message', rank, why));
  }

  /** A round is starting while a rank that left between calls is gone: the group ends, naming it. */
  #failIfDeparted(): boolean {
    const departed = this.#lazyDepartures ? this.#departed[0] : undefined;
    if (departed === undefined) return false;
    this.#failGroup(departed.rank, departed.why, false);
    return true;
  }

  /**
   * Whether a worker may leave now without failing the call in flight: that call is only
   * flushing its result, and every frame to that worker (`unflushed` of them are not) had left.
   */
  #mayDepart(unflushed: number): boolean {
    return this.#flushing !== null && unflushed === 0 && !this.#failure && !this.#closing;
  }

  /** Frames arriving after the current call was rejected must not land in the caller's buffers. */
  #stopPlacing(): void {
    for (const peer of this.#workers) peer.reader.detachSink();
  }

  /** While #flushing: true when the kernel took bytes since the last tick (a slow reader is still a reader). */
  #flushMoved(): boolean {
    let queued = 0;
    for (const peer of this.#workers) queued += peer.link.bufferedBytes;
    const moved = queued !== this.#queuedAtLastTick;
    this.#queuedAtLastTick = queued;
    return moved;
  }

  /** The stall handler while rank 0's result is still leaving: the ranks not taking it are the late ones. */
  #onFlushStall(flushing: LocalCall, stalledMs: number, fatal: boolean): boolean {
    if (this.#flushMoved()) {
      this.#clock.progress();
      return false;
    }
    const sequence = this.#sequence - 1;
    const slow = this.#peers.flatMap((p, r) => (r > 0 && p.writer.unflushedFrames > 0 ? [r] : []));
    const detail = slow
      .map(
        (r) =>
          `rank ${r} is not reading rank 0's result (${formatBytes(this.#peers[r]?.link.bufferedBytes ?? 0)} still queued for it, nothing taken for ${formatSecs(stalledMs)})`,
      )
      .join('; ');
    if (!fatal) {
      const timeoutSecs = this.#s.timeoutMs / 1000;
      this.#s.warnStall(
        `${this.name} rank 0: ${stallWarningMessage(sequence, flushing.fp.kind, slow, stalledMs, timeoutSecs)}; ${detail}`,
      );
      return true;
    }
    const error = timedOut(flushing.fp.kind, sequence, slow, this.#s.timeoutMs / 1000, detail);
    this.#failure = error;
    this.#messages.failed(error);
    this.#clock.stop();
    this.#stopPlacing();
    const frame = encodeSilentRanks(sequence, stalledMs, slow, detail);
    for (const peer of this.#workers) peer.send(Tag.Timeout, frame);
    this.#flushing = null;
    flushing.reject(error);
    return true;
  }

  /** Heads of the finished round leave the queues; a discarded head leaves once all its data came. */
  #advance(): void {
    this.#sequence++;
    this.#clock.reset();
    for (let r = 1; r < this.size; r++) {
      const queue = this.#queues[r] as Contribution[];
      const head = queue[0];
      if (head) this.#lastKind[r] = head.fingerprint.kind;
      if (head && isComplete(head)) this.#shift(r);
    }
    // A discarded head still receiving data stays until complete; its later data is dropped in place.
    this.#dropCompletedDiscards();
  }

  #dropCompletedDiscards(): void {
    for (let r = 1; r < this.size; r++) {
      const queue = this.#queues[r] as Contribution[];
      while (queue.length > 0 && (queue[0] as Contribution).discard && isComplete(queue[0] as Contribution))
        this.#shift(r);
    }
  }

  #onStall(stalledMs: number, fatal: boolean): boolean {
    if (this.#failure || this.#closing) return false;
    if (this.#flushing) return this.#onFlushStall(this.#flushing, stalledMs, fatal);
    const local = this.#local;
    const heads = this.#queues.map((q) => q.find((c) => c.sequence === this.#sequence && !c.discard));
    const started = local !== null || heads.some((h) => h !== undefined);
    if (!started && this.#progress === null) return false;
    // A rank rank 0 stopped reading (#held) has arrived: its data waits in TCP for rank 0 to catch up.
    let missing = heads.flatMap((h, r) =>
      (r === 0 ? local === null : !this.#held.has(r) && !this.#relay.isPaused(r) && (!h || !isComplete(h)))
        ? [r]
        : [],
    );
    if (missing.length === 0)
      missing = this.#peers.flatMap((p, r) => (r > 0 && p.writer.unflushedFrames > 0 ? [r] : []));
    const kind = local?.fp.kind ?? heads.find((h) => h)?.fingerprint.kind ?? 'collective';
    const now = performance.now();
    const detail = missing.map((r) => this.#lastSeen(r, heads[r], now)).join('; ');
    const frame = encodeSilentRanks(this.#sequence, stalledMs, missing, detail);
    const timeoutSecs = this.#s.timeoutMs / 1000;
    if (!fatal) {
      this.#s.warnStall(
        `${this.name} rank 0: ${stallWarningMessage(this.#sequence, kind, missing, stalledMs, timeoutSecs)}; ${detail}`,
      );
      // Every waiting worker warns too (spec §7.2): the ones whose Begin rank 0 holds.
      heads.forEach((h, r) => h && this.#peers[r]?.send(Tag.Warning, frame));
      return true;
    }
    const error = timedOut(kind, this.#sequence, missing, timeoutSecs, detail);
    this.#failure = error;
    this.#messages.failed(error);
    this.#clock.stop();
    this.#stopPlacing();
    for (const peer of this.#workers) peer.send(Tag.Timeout, frame);
    this.#local = null;
    local?.reject(error);
    return true;
  }

  /** What rank 0 last saw rank `r` do in the current round, for stall warnings and Timeout (spec §7.2). */
  #lastSeen(r: number, head: Contribution | undefined, now: number): string {
    if (r === 0) return 'rank 0 has not called it';
    const quiet = formatSecs(now - (this.#lastHeard[r] as number));
    if (!head) return `rank ${r} never arrived (${this.#lastDone(r)}; nothing from it for ${quiet})`;
    if (isComplete(head))
      return `rank ${r} is not reading its result (${formatBytes(this.#peers[r]?.link.bufferedBytes ?? 0)} queued for it, nothing taken for ${quiet})`;
    return `rank ${r} sent ${formatBytes(head.received)} of ${formatBytes(head.bytes)}, then nothing for ${quiet}`;
  }

  /** "last seen after collective #3 (allreduce)", as shm words it; rank r took part in every earlier round. */
  #lastDone(r: number): string {
    const kind = this.#lastKind[r];
    return this.#sequence === 0 || kind === undefined
      ? 'it has not called a collective yet'
      : `last seen after collective #${this.#sequence - 1} (${kind})`;
  }

  /** ", after sending X of Y of collective #s": a rank that left mid-send, for its CollectiveFailed. */
  #partialSend(r: number): string {
    const head = (this.#queues[r] as Contribution[]).find((c) => c.sequence === this.#sequence);
    if (!head || isComplete(head) || head.discard) return '';
    return `after sending ${formatBytes(head.received)} of ${formatBytes(head.bytes)} of collective #${head.sequence}`;
  }

  /**
   * A worker is gone or broke the protocol (or ended the group: Fail, §12.5; its link stays open):
   * every rank learns it now (Abort), and later calls fail.
   */
  #failGroup(rank: number, why: string, cut = true): void {
    if (this.#failure || this.#closing) return;
    const kind = (this.#local ?? this.#flushing)?.fp.kind ?? 'collective';
    this.#failure = peerFailed(kind, rank, why);
    this.#messages.failed(peerFailed('message', rank, why));
    this.#clock.stop();
    this.#stopPlacing();
    const abort = encodeAbort(rank, why);
    this.#peers.forEach((peer, r) => r > 0 && r !== rank && peer.send(Tag.Abort, abort));
    // The flushing call is rejected before the destroy below releases its flushed() waiters.
    const local = this.#local ?? this.#flushing;
    this.#local = null;
    this.#flushing = null;
    local?.reject(this.#failure);
    if (cut) this.#peers[rank]?.destroy();
  }

  /**
   * The message layer ends the group (a receive timed out, §12.5): rank 0 gets `error`, every worker
   * an Abort naming rank 0 with its message, as a collective's Timeout ends the group.
   */
  #endGroup(error: CommError): void {
    if (this.#failure || this.#closing) return;
    this.#failure = error;
    this.#messages.failed(error);
    this.#clock.stop();
    this.#stopPlacing();
    const abort = encodeAbort(0, `ended the group: ${error.message}`);
    for (const peer of this.#workers) peer.send(Tag.Abort, abort);
    const local = this.#local ?? this.#flushing;
    this.#local = null;
    this.#flushing = null;
    local?.reject(error);
  }
}
