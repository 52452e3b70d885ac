/**
 * The message engine: {@link MessageLayer} over one {@link PairChannel} (spec/communicator.md §10).
 *
 * Protocol (§10.5): a message of at most `eagerBytes` travels as one EAGER frame (the channel copies
 * it; the send resolves when post returns). A larger one is announced by an RTS (no payload); the
 * receiver, once a receive matches it, places it and answers CTS with its receive id; the sender
 * then posts DATA straight from the caller's buffer and resolves. Matching happens when an EAGER or
 * RTS arrives (against posted receives, first posted first) or when a receive is posted (against
 * the unexpected queue, first arrived first): with per-source ordered frames this is MPI's
 * non-overtaking rule. Self-sends take the same paths in-process, without the channel.
 */
import { CommError } from '../errors.js';
import { nextMacrotask } from '../platform.js';
import type { PairChannel } from './channel.js';
import { BadHeader, decodeHeader, encodeHeader, FLAG_DISCARD, FrameType, type Header } from './header.js';
import type { Envelope, MessageLayer, Placement } from './layer.js';
import { matches, MatchQueue, type Address, type Pattern } from './matching.js';
import { Watchdog, type Wait } from './waits.js';

/** Messages of at most this many bytes are sent eagerly (copied, no handshake). */
export const DEFAULT_EAGER_BYTES = 64 * 1024;
/** Polls of a shared-memory channel before a waiting engine sleeps on waitForFrames. */
const SPIN_POLLS = 64;
/** The longest one waitForFrames sleep (ms); the watchdog's checks run in between. */
const FRAME_WAIT_MS = 100;
const U32_LIMIT = 2 ** 32;

export interface MessageLayerOptions {
  /** Eager threshold in bytes (default {@link DEFAULT_EAGER_BYTES}); tests lower it to walk the rendezvous path. */
  eagerBytes?: number;
}

/** A message that arrived before a receive matched it. */
interface Unexpected extends Address {
  readonly envelope: Envelope;
  /** EAGER: a copy of the payload. RTS: null (the data waits at the sender). */
  readonly payload: Uint8Array | null;
  /** RTS: the sender's message id. */
  readonly messageId: number;
  /** A rendezvous self-send: the sender's buffer and how to complete its send. */
  readonly self: { payload: Uint8Array; done: () => void } | null;
}

interface PostedRecv extends Pattern {
  readonly place: Placement;
  readonly resolve: (envelope: Envelope) => void;
  readonly reject: (error: unknown) => void;
  readonly wait: Wait;
}

interface Probe extends Pattern {
  readonly resolve: (envelope: Envelope) => void;
  readonly reject: (error: unknown) => void;
  readonly wait: Wait;
}

/** A rendezvous send waiting for CTS. */
interface PendingSend {
  readonly dest: number;
  readonly payload: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly wait: Wait;
}

/** A matched rendezvous receive waiting for DATA. */
interface Incoming {
  readonly source: number;
  readonly envelope: Envelope;
  readonly view: Uint8Array;
  readonly recv: PostedRecv;
}

const RESOLVED: Promise<void> = Promise.resolve();
const engines = new WeakMap<PairChannel, MessageEngine>();

/**
 * The one message layer of a channel (created and attached on first use), so every communicator
 * of a world — splitLocal, split and dup results included — shares it. `options.eagerBytes`, when
 * given, sets the threshold of the (new or existing) engine: a test knob.
 */
export function messageLayerFor(
  channel: PairChannel,
  rank: number,
  size: number,
  options: MessageLayerOptions = {},
): MessageLayer {
  let engine = engines.get(channel);
  if (engine === undefined) {
    engine = new MessageEngine(channel, rank, size);
    engines.set(channel, engine);
  } else if (engine.rank !== rank || engine.size !== size) {
    throw new Error(
      `internal error: the channel's message layer is rank ${engine.rank} of ${engine.size}, not ${rank} of ${size}`,
    );
  }
  if (options.eagerBytes !== undefined) engine.eagerBytes = options.eagerBytes;
  return engine;
}

export class MessageEngine implements MessageLayer {
  readonly rank: number;
  readonly size: number;
  /** Messages of at most this many bytes go eagerly; larger ones by rendezvous. */
  eagerBytes = DEFAULT_EAGER_BYTES;
  readonly #channel: PairChannel;
  readonly #watchdog: Watchdog;
  readonly #posted = new MatchQueue<PostedRecv>();
  readonly #unexpected = new MatchQueue<Unexpected>();
  readonly #probes = new MatchQueue<Probe>();
  readonly #sends = new Map<number, PendingSend>();
  readonly #incoming = new Map<number, Incoming>();
  #nextMessageId = 0;
  #nextReceiveId = 0;
  #failure: CommError | null = null;
  #pumping = false;
  /** World ranks that left in order, and what naming them fails with (#departed). */
  readonly #gone = new Map<number, CommError>();

  constructor(channel: PairChannel, rank: number, size: number) {
    this.rank = rank;
    this.size = size;
    this.#channel = channel;
    this.#watchdog = new Watchdog(channel, (error) => {
      this.#fail(error);
      channel.fail(error);
    });
    channel.attach(
      (source, header, payload) => this.#frame(source, header, payload),
      (error) => this.#fail(error),
      (source, header, bytes) => this.#placeData(source, header, bytes),
      (source, error) => this.#departed(source, error),
    );
  }

  send(
    context: number,
    dest: number,
    tag: number,
    kind: number,
    payload: Uint8Array,
    describe = `send to world rank ${dest}, tag ${tag} (context ${context})`,
  ): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const gone = this.#gone.get(dest);
    if (gone !== undefined) return Promise.reject(gone);
    const bytes = payload.length;
    if (dest === this.rank)
      return this.#sendSelf({ source: dest, tag, kind, bytes }, context, payload, describe);
    if (bytes <= this.eagerBytes) {
      const header = encodeHeader({
        type: FrameType.EAGER,
        kind,
        flags: 0,
        context,
        tag,
        bytes,
        messageId: 0,
        receiveId: 0,
      });
      const posted = this.#post(dest, header, payload);
      if (posted === RESOLVED) return posted;
      // The transport has not taken the bytes yet (a full ring or socket): a wait like any other,
      // so the process stays alive and a transport that never drains ends in Timeout, not a hang.
      return new Promise<void>((resolve, reject) => {
        const wait = this.#watchdog.add(`${describe} (waiting for the transport to take it)`, reject);
        posted.then(
          () => {
            this.#watchdog.done(wait);
            resolve();
          },
          (error: unknown) => {
            this.#watchdog.done(wait);
            reject(error);
          },
        );
      });
    }
    const messageId = this.#nextMessageId;
    this.#nextMessageId = (messageId + 1) % U32_LIMIT;
    const header = encodeHeader({
      type: FrameType.RTS,
      kind,
      flags: 0,
      context,
      tag,
      bytes,
      messageId,
      receiveId: 0,
    });
    return new Promise<void>((resolve, reject) => {
      const wait = this.#watchdog.add(describe, reject);
      this.#sends.set(messageId, { dest, payload, resolve, reject, wait });
      this.#post(dest, header, new Uint8Array(0)).catch(() => {}); // a failure reaches every op through onFailure
      this.#pump();
    });
  }

  recv(context: number, source: number, tag: number, place: Placement, describe: string): Promise<Envelope> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    this.#channel.poll?.();
    const pattern = { context, source, tag };
    const found = this.#unexpected.take((u) => matches(pattern, u));
    if (found !== undefined && found.payload !== null) {
      // Already here, eager: place and copy now, nothing waits.
      try {
        placeInto(place, found.envelope).set(found.payload);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(found.envelope);
    }
    const gone = found === undefined ? this.#gone.get(source) : undefined;
    if (gone !== undefined) return Promise.reject(gone);
    return new Promise<Envelope>((resolve, reject) => {
      const wait = this.#watchdog.add(describe, reject);
      const recv: PostedRecv = { context, source, tag, place, resolve, reject, wait };
      if (found === undefined) {
        this.#posted.push(recv);
        this.#pump();
      } else this.#deliver(recv, found);
    });
  }

  probe(context: number, source: number, tag: number, describe: string): Promise<Envelope> {
    const found = this.iprobe(context, source, tag);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (found !== null) return Promise.resolve(found);
    const gone = this.#gone.get(source);
    if (gone !== undefined) return Promise.reject(gone);
    return new Promise<Envelope>((resolve, reject) => {
      const wait = this.#watchdog.add(describe, reject);
      this.#probes.push({ context, source, tag, resolve, reject, wait });
      this.#pump();
    });
  }

  iprobe(context: number, source: number, tag: number): Envelope | null {
    // After the group failed nothing more can arrive: a polling loop must see the failure, not null.
    if (this.#failure !== null) throw this.#failure;
    this.#channel.poll?.();
    const pattern = { context, source, tag };
    return this.#unexpected.find((u) => matches(pattern, u))?.envelope ?? null;
  }

  cancel(contexts: readonly number[], error: unknown): void {
    const mine = (item: { context: number }): boolean => contexts.includes(item.context);
    for (const recv of this.#posted.takeAll(mine)) {
      this.#watchdog.done(recv.wait);
      recv.reject(error);
    }
    for (const probe of this.#probes.takeAll(mine)) {
      this.#watchdog.done(probe.wait);
      probe.reject(error);
    }
    for (const message of this.#unexpected.takeAll(mine)) {
      if (message.self !== null) message.self.done();
      else if (message.payload === null) this.#discard(message);
    }
  }

  #sendSelf(envelope: Envelope, context: number, payload: Uint8Array, describe: string): Promise<void> {
    const address = { context, source: envelope.source, tag: envelope.tag };
    const recv = this.#posted.take((r) => matches(r, address));
    if (recv !== undefined) {
      this.#watchdog.done(recv.wait);
      let view: Uint8Array;
      try {
        view = placeInto(recv.place, envelope);
      } catch (error) {
        recv.reject(error);
        return RESOLVED;
      }
      view.set(payload);
      recv.resolve(envelope);
      return RESOLVED;
    }
    if (envelope.bytes <= this.eagerBytes) {
      this.#arrived({ ...address, envelope, payload: new Uint8Array(payload), messageId: 0, self: null });
      return RESOLVED;
    }
    // Rendezvous to self: the bytes stay in the caller's buffer until a receive matches.
    return new Promise<void>((resolve, reject) => {
      const wait = this.#watchdog.add(describe, reject);
      const done = (): void => {
        this.#watchdog.done(wait);
        resolve();
      };
      this.#arrived({ ...address, envelope, payload: null, messageId: 0, self: { payload, done } });
    });
  }

  /** A message nobody has received yet: queue it and wake the probes it satisfies. */
  #arrived(message: Unexpected): void {
    this.#unexpected.push(message);
    if (this.#probes.length === 0) return;
    for (const probe of this.#probes.takeAll((p) => matches(p, message))) {
      this.#watchdog.done(probe.wait);
      probe.resolve(message.envelope);
    }
  }

  /** `recv` matched `message` (which may still be at its sender): place it and complete or handshake. */
  #deliver(recv: PostedRecv, message: Unexpected): void {
    let view: Uint8Array | null = null;
    let error: unknown = null;
    try {
      view = placeInto(recv.place, message.envelope);
    } catch (e) {
      error = e;
    }
    if (message.self !== null) {
      if (view !== null) view.set(message.self.payload);
      message.self.done();
    } else if (message.payload === null) {
      // Rendezvous from a peer: ask for the data, or (truncation) tell the sender to keep it.
      if (view === null) this.#discard(message);
      else {
        const receiveId = this.#nextReceiveId;
        this.#nextReceiveId = (receiveId + 1) % U32_LIMIT;
        this.#incoming.set(receiveId, { source: message.source, envelope: message.envelope, view, recv });
        this.#clearToSend(message, receiveId, 0);
      }
      if (view !== null) return; // completes when DATA arrives
    } else if (view !== null) {
      view.set(message.payload);
    }
    this.#watchdog.done(recv.wait);
    if (view === null) recv.reject(error);
    else recv.resolve(message.envelope);
  }

  /** Answers an RTS: CTS naming where the data goes, or DISCARD (the sender keeps its data and resolves). */
  #clearToSend(message: Unexpected, receiveId: number, flags: number): void {
    const header = encodeHeader({
      type: FrameType.CTS,
      kind: message.envelope.kind,
      flags,
      context: message.context,
      tag: message.tag,
      bytes: message.envelope.bytes,
      messageId: message.messageId,
      receiveId,
    });
    this.#post(message.source, header, new Uint8Array(0)).catch(() => {}); // failures reach every op via onFailure
  }

  #discard(message: Unexpected): void {
    this.#clearToSend(message, 0, FLAG_DISCARD);
  }

  /** The channel's sink: never throws; a frame it cannot read ends the group with an internal error. */
  #frame(source: number, headerBytes: Uint8Array, payload: Uint8Array): void {
    if (this.#failure !== null) return;
    try {
      const header = decodeHeader(headerBytes);
      switch (header.type) {
        case FrameType.EAGER:
        case FrameType.RTS:
          return this.#message(source, header, payload);
        case FrameType.CTS:
          return this.#cleared(source, header);
        case FrameType.DATA:
          return this.#data(source, header, payload);
      }
    } catch (error) {
      const why = error instanceof BadHeader ? error.message : String(error);
      const failure = new CommError(
        'CollectiveFailed',
        'recv',
        `internal error: a message frame from rank ${source} could not be read (${why}); the group is ended. Report this as a bug, with both ranks' versions.`,
        { rank: source },
      );
      this.#fail(failure);
      this.#channel.fail(failure);
    }
  }

  #message(source: number, header: Header, payload: Uint8Array): void {
    const eager = header.type === FrameType.EAGER;
    if (eager && payload.length !== header.bytes) {
      throw new BadHeader(`an eager message announces ${header.bytes} bytes but carries ${payload.length}`);
    }
    const envelope: Envelope = { source, tag: header.tag, kind: header.kind, bytes: header.bytes };
    const message: Unexpected = {
      context: header.context,
      source,
      tag: header.tag,
      envelope,
      // Eager bytes are kept as a copy only when no receive takes them at once (views die after the sink).
      payload: eager ? payload : null,
      messageId: header.messageId,
      self: null,
    };
    const recv = this.#posted.take((r) => matches(r, message));
    if (recv !== undefined) this.#deliver(recv, message);
    else this.#arrived(eager ? { ...message, payload: new Uint8Array(payload) } : message);
  }

  #cleared(source: number, header: Header): void {
    const send = this.#sends.get(header.messageId);
    if (send === undefined || send.dest !== source) {
      throw new BadHeader(
        `a CTS for message ${header.messageId}, which is not a send of this rank to rank ${source}`,
      );
    }
    this.#sends.delete(header.messageId);
    const done = (): void => {
      this.#watchdog.done(send.wait);
      send.resolve();
    };
    if ((header.flags & FLAG_DISCARD) !== 0) return done();
    const data = encodeHeader({ ...header, type: FrameType.DATA, flags: 0 });
    this.#post(source, data, send.payload).then(done, () => {});
  }

  /**
   * The channel's placement: a rendezvous DATA frame for a matched receive goes straight into the
   * receive's buffer as it arrives (no assembled copy); anything else is assembled by the channel.
   */
  #placeData(source: number, headerBytes: Uint8Array, bytes: number): Uint8Array | null {
    if (this.#failure !== null) return null;
    let header: Header;
    try {
      header = decodeHeader(headerBytes);
    } catch {
      return null;
    }
    if (header.type !== FrameType.DATA) return null;
    const incoming = this.#incoming.get(header.receiveId);
    if (incoming === undefined || incoming.source !== source || incoming.envelope.bytes !== bytes)
      return null;
    return incoming.view.subarray(0, bytes);
  }

  #data(source: number, header: Header, payload: Uint8Array): void {
    const incoming = this.#incoming.get(header.receiveId);
    if (incoming === undefined || incoming.source !== source || payload.length !== incoming.envelope.bytes) {
      throw new BadHeader(
        `DATA for receive ${header.receiveId} (${payload.length} bytes) matches no receive of rank ${source}`,
      );
    }
    this.#incoming.delete(header.receiveId);
    // Placed by the channel as it arrived (#placeData): already where it belongs.
    const placed = payload.buffer === incoming.view.buffer && payload.byteOffset === incoming.view.byteOffset;
    if (!placed) incoming.view.set(payload);
    this.#watchdog.done(incoming.recv.wait);
    incoming.recv.resolve(incoming.envelope);
  }

  #post(dest: number, header: Uint8Array, payload: Uint8Array): Promise<void> {
    try {
      const posted = this.#channel.post(dest, header, payload);
      return posted instanceof Promise ? posted : RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A shared-memory channel delivers only when polled: while anything waits, poll (briefly
   * spinning), then sleep on waitForFrames. Socket channels deliver on the event loop by themselves.
   */
  #pump(): void {
    const channel = this.#channel;
    if (channel.poll === undefined || this.#pumping) return;
    this.#pumping = true;
    void (async () => {
      try {
        while (this.#watchdog.size > 0 && this.#failure === null) {
          let any = false;
          for (let i = 0; i < SPIN_POLLS && !any; i++) any = channel.poll!();
          if (any) await nextMacrotask();
          else if (channel.waitForFrames) await channel.waitForFrames(FRAME_WAIT_MS);
          else await nextMacrotask();
        }
      } finally {
        this.#pumping = false;
      }
    })();
  }

  /** The group failed: every waiting operation rejects with `error`, and every later one. */
  /**
   * World rank `source` left in order (the channel's FrameDeparture): every frame it sent has
   * arrived, so what still waits for it never completes — posted receives and probes naming it,
   * rendezvous sends to it, its large messages not yet received (their data would never come) and
   * DATA of its still arriving fail with `error`, as does any later call naming it. Its eager
   * messages that arrived stay receivable; receives from ANY_SOURCE stay posted.
   */
  #departed(source: number, error: CommError): void {
    if (this.#failure !== null || this.#gone.has(source)) return;
    this.#gone.set(source, error);
    for (const recv of this.#posted.takeAll((r) => r.source === source)) {
      this.#watchdog.done(recv.wait);
      recv.reject(error);
    }
    for (const probe of this.#probes.takeAll((p) => p.source === source)) {
      this.#watchdog.done(probe.wait);
      probe.reject(error);
    }
    // Its large messages that no receive took yet: their data stayed with it, and never comes.
    this.#unexpected.takeAll((u) => u.source === source && u.payload === null);
    for (const [id, send] of this.#sends) {
      if (send.dest !== source) continue;
      this.#sends.delete(id);
      this.#watchdog.done(send.wait);
      send.reject(error);
    }
    for (const [id, incoming] of this.#incoming) {
      if (incoming.source !== source) continue;
      this.#incoming.delete(id);
      this.#watchdog.done(incoming.recv.wait);
      incoming.recv.reject(error);
    }
  }

  #fail(error: CommError): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    this.#posted.clear();
    this.#probes.clear();
    this.#unexpected.clear();
    this.#sends.clear();
    this.#incoming.clear();
    this.#watchdog.failAll(error);
  }
}

/** The caller's placement for `envelope`, checked to hold the payload. */
function placeInto(place: Placement, envelope: Envelope): Uint8Array {
  const view = place(envelope);
  if (view.length < envelope.bytes) {
    throw new Error(`internal error: a placement of ${view.length} bytes for a message of ${envelope.bytes}`);
  }
  return view;
}
