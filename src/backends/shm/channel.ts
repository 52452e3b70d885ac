/**
 * The shm pair channel (spec/backend-shm.md §9): ordered frames between the ranks of one group
 * through the mailbox region (mailboxes.ts). Each ordered pair has a single-producer/single-consumer
 * byte ring; a frame is a record [prefix (8 B), header, payload, padding to 8 B] written as bytes.
 * A record that fits the ring is delivered as views into it; a larger one streams through it and is
 * reassembled, so the ring bounds shared memory whatever the message size. Nothing here blocks the
 * thread: a post that finds the ring full finishes asynchronously, and meanwhile this rank keeps
 * draining its own inbound rings, so two ranks posting large frames to each other both complete.
 */
import type { CommError } from '../../communicator/errors.js';
import { CommError as CommErrorClass } from '../../communicator/errors.js';
import type { FrameSink, PairChannel } from '../../communicator/messages/channel.js';
import { MAX_HEADER_BYTES } from '../../communicator/messages/channel.js';
import { waitAsync } from '../../communicator/wasm.js';
import { abortGroup, ABORT_CAUSE, W } from './group.js';
import {
  doorbellWord,
  DOORBELL_WORD,
  PAIR_WORD,
  pairWord,
  ringByte,
  type MailboxLayout,
} from './mailboxes.js';
import type { GroupMember } from './member.js';

/** Longest single sleep of the listener or a waiting post: bounds how late a failure is seen. */
export const CHANNEL_SLICE_MS = 100;
/** How long a post whose ring is full spins (draining its own inbound rings) before it sleeps. */
export const POST_SPIN_MS = 0.05;
/** Bytes of a record's prefix: [header length | payload length high bits << 8, payload length low 32 bits]. */
export const PREFIX_BYTES = 8;
const RECORD_ALIGN = 8;
const TWO_32 = 2 ** 32;
/** The operation failures name (the engine rejects each pending operation with the error). */
const OPERATION = 'message';
/** The doorbell line's second word: listeners sleeping on BELL (producers notify only when > 0). */
const SLEEPERS_WORD = 1;

const recordBytes = (headerBytes: number, payloadBytes: number): number =>
  Math.ceil((PREFIX_BYTES + headerBytes + payloadBytes) / RECORD_ALIGN) * RECORD_ALIGN;

interface Post {
  readonly header: Uint8Array;
  readonly payload: Uint8Array;
  readonly record: number;
  /** Record bytes written so far. */
  done: number;
  resolve(): void;
  reject(error: unknown): void;
}

interface Outbound {
  /** Word of the pair's producer line. */
  readonly line: number;
  /** Byte offset of the ring. */
  readonly ring: number;
  current: boolean;
  head: number;
  /** The consumer's TAIL as #write last read it: #room waits for it to change. */
  seenTail: number;
  /** Posts not yet fully written, in post order; the first one is being written. */
  readonly queue: Post[];
}

/** A record larger than the ring, being reassembled. */
interface Partial {
  readonly header: Uint8Array;
  readonly payload: Uint8Array;
  readonly record: number;
  got: number;
}

interface Inbound {
  readonly line: number;
  readonly ring: number;
  current: boolean;
  tail: number;
  partial: Partial | null;
}

export class ShmChannel implements PairChannel {
  readonly stallWarningSecs: number;
  readonly timeoutSecs: number;
  readonly #m: GroupMember;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #cap: number;
  readonly #mask: number;
  readonly #bell: number;
  readonly #layout: MailboxLayout;
  readonly #out: Array<Outbound | null>;
  readonly #in: Array<Inbound | null>;
  #sink: FrameSink | null = null;
  #onFailure: ((error: CommError) => void) | null = null;
  #failure: CommError | null = null;
  #lastBell = 0;
  /** False once this rank closed: frames still in its rings are not delivered any more. */
  #deliverOnFailure = true;
  #draining = false;
  #active = false;
  #waitingPosts = 0;
  #keepAlive: ReturnType<typeof setInterval> | null = null;
  /** Where a record that wraps around the ring's end is copied before delivery. */
  #scratch: Uint8Array | null = null;

  constructor(
    member: GroupMember,
    mailboxes: SharedArrayBuffer,
    layout: MailboxLayout,
    stallWarningSecs: number,
  ) {
    this.#m = member;
    this.stallWarningSecs = stallWarningSecs;
    this.timeoutSecs = member.timeoutSecs;
    this.#words = new Int32Array(mailboxes, 0, layout.bytes >> 2);
    this.#bytes = new Uint8Array(mailboxes, 0, layout.bytes);
    this.#cap = layout.ringBytes;
    this.#mask = layout.ringBytes - 1;
    const me = member.rank;
    this.#bell = doorbellWord(layout, me) + DOORBELL_WORD.BELL;
    this.#out = Array.from({ length: member.size }, (_, r) =>
      r === me
        ? null
        : {
            line: pairWord(layout, me, r),
            ring: ringByte(layout, me, r),
            current: false,
            head: 0,
            seenTail: 0,
            queue: [],
          },
    );
    this.#in = Array.from({ length: member.size }, (_, r) =>
      r === me
        ? null
        : {
            line: pairWord(layout, r, me),
            ring: ringByte(layout, r, me),
            current: false,
            tail: 0,
            partial: null,
          },
    );
    this.#layout = layout;
  }

  post(dest: number, header: Uint8Array, payload: Uint8Array): Promise<void> | void {
    const out = this.#out[dest];
    if (out === undefined || out === null) {
      return Promise.reject(
        new CommErrorClass(
          'InvalidArgument',
          OPERATION,
          `internal error: shm channel post to rank ${dest}, but this is rank ${this.#m.rank} of ${this.#m.size}`,
          { dest },
        ),
      );
    }
    const failure = this.#failure ?? this.#check();
    if (failure) return Promise.reject(this.#failWith(failure));
    if (header.length > MAX_HEADER_BYTES)
      throw new RangeError('shm channel: internal error: header too long');
    if (!out.current) (this.#makeCurrent(out.line), (out.current = true), (out.head = 0));
    const post: Post = {
      header,
      payload,
      record: recordBytes(header.length, payload.length),
      done: 0,
      resolve: noop,
      reject: noop,
    };
    if (out.queue.length === 0 && this.#write(dest, out, post)) return;
    const done = new Promise<void>((resolve, reject) => {
      post.resolve = resolve;
      post.reject = reject;
    });
    out.queue.push(post);
    if (out.queue.length === 1) void this.#pump(dest, out);
    return done;
  }

  attach(sink: FrameSink, onFailure: (error: CommError) => void): void {
    if (this.#sink) throw new Error('shm channel: internal error: attached twice');
    this.#sink = sink;
    this.#onFailure = onFailure;
    if (this.#failure) {
      onFailure(this.#failure);
      return;
    }
    void this.#listen();
  }

  poll(): boolean {
    if (this.#failure !== null || this.#sink === null) return false;
    const bell = Atomics.load(this.#words, this.#bell);
    if (bell === this.#lastBell) return false;
    return this.#drain();
  }

  async waitForFrames(ms: number): Promise<void> {
    if (this.#failure !== null) return;
    const bell = this.#lastBell;
    const w = this.#words;
    const sleepers = this.#bell + SLEEPERS_WORD;
    Atomics.add(w, sleepers, 1);
    try {
      const waiting = waitAsync(w, this.#bell, bell, Math.max(0, ms));
      if (waiting.async) await waiting.value;
    } finally {
      Atomics.sub(w, sleepers, 1);
    }
  }

  setActive(active: boolean): void {
    this.#active = active;
    this.#holdOpen();
  }

  fail(error: CommError): void {
    if (this.#failure) return;
    const cause = error.code === 'Timeout' ? ABORT_CAUSE.TIMEOUT : ABORT_CAUSE.FAILURE;
    abortGroup(this.#m.words, this.#m.rank, `rank ${this.#m.rank}: ${error.message}`, cause);
    this.#failWith(error);
  }

  /** The world communicator closed (§9.5): every pending and later operation fails; nothing more is delivered. */
  close(): void {
    if (this.#failure) return;
    this.#deliverOnFailure = false;
    this.#failWith(
      new CommErrorClass('InvalidCommunicator', OPERATION, 'the communicator is closed.', {
        rank: this.#m.rank,
      }),
    );
  }

  // ---- producer --------------------------------------------------------------------------------

  /** Writes as much of `post` as the ring has room for; true once the whole record is written. */
  #write(dest: number, out: Outbound, post: Post): boolean {
    const w = this.#words;
    const tail = Atomics.load(w, out.line + PAIR_WORD.TAIL);
    out.seenTail = tail;
    let free = this.#cap - ((out.head - tail) >>> 0);
    const headerBytes = post.header.length;
    let head = out.head;
    if (post.done === 0) {
      // Prefix and header go in one piece: a consumer at a record's start always has both.
      if (free < PREFIX_BYTES + headerBytes) return false;
      const pos = head & this.#mask;
      const at = (out.ring + pos) >> 2;
      const length = post.payload.length;
      w[at] = headerBytes | (Math.floor(length / TWO_32) << 8);
      w[at + 1] = (length % TWO_32) | 0;
      this.#copyIn(out.ring, (pos + PREFIX_BYTES) & this.#mask, post.header, 0, headerBytes);
      head = (head + PREFIX_BYTES + headerBytes) | 0;
      free -= PREFIX_BYTES + headerBytes;
      post.done = PREFIX_BYTES + headerBytes;
    }
    const payloadStart = PREFIX_BYTES + headerBytes;
    const payloadLeft = payloadStart + post.payload.length - post.done;
    const n = Math.min(free, payloadLeft);
    if (n > 0) {
      this.#copyIn(out.ring, head & this.#mask, post.payload, post.done - payloadStart, n);
      head = (head + n) | 0;
      free -= n;
      post.done += n;
    }
    if (post.done >= payloadStart + post.payload.length) {
      const pad = Math.min(free, post.record - post.done);
      head = (head + pad) | 0;
      post.done += pad;
    }
    if (head !== out.head) {
      out.head = head;
      Atomics.store(w, out.line + PAIR_WORD.HEAD, head);
      this.#ring(dest);
    }
    return post.done === post.record;
  }

  #copyIn(ring: number, pos: number, src: Uint8Array, from: number, n: number): void {
    if (n === 0) return;
    const first = Math.min(n, this.#cap - pos);
    const bytes = this.#bytes;
    bytes.set(from === 0 && first === src.length ? src : src.subarray(from, from + first), ring + pos);
    if (n > first) bytes.set(src.subarray(from + first, from + n), ring);
  }

  #ring(dest: number): void {
    const bell = doorbellWord(this.#layout, dest) + DOORBELL_WORD.BELL;
    const w = this.#words;
    Atomics.add(w, bell, 1);
    if (Atomics.load(w, bell + SLEEPERS_WORD) > 0) Atomics.notify(w, bell);
  }

  /** Finishes the queued posts to `dest` in order, waiting for room without blocking the thread. */
  async #pump(dest: number, out: Outbound): Promise<void> {
    this.#waitingPosts++;
    this.#holdOpen();
    try {
      while (out.queue.length > 0) {
        const post = out.queue[0]!;
        while (!this.#write(dest, out, post)) {
          const error = this.#failure ?? this.#check();
          if (error) {
            this.#failWith(error);
            return;
          }
          await this.#room(out);
          if (this.#failure) return;
        }
        out.queue.shift();
        post.resolve();
      }
    } finally {
      this.#waitingPosts--;
      this.#holdOpen();
    }
  }

  /** Resolves once the consumer may have freed room in `out`'s ring, or after a slice. */
  async #room(out: Outbound): Promise<void> {
    const w = this.#words;
    const tailWord = out.line + PAIR_WORD.TAIL;
    const tail = out.seenTail;
    // Spin briefly: the consumer is usually copying on another core right now. Keep draining this
    // rank's own rings meanwhile, so two ranks posting to each other both make progress.
    const until = performance.now() + POST_SPIN_MS;
    do {
      this.poll();
      if (Atomics.load(w, tailWord) !== tail) return;
    } while (performance.now() < until);
    Atomics.store(w, out.line + PAIR_WORD.PRODUCER_WAITING, 1);
    try {
      const waiting = waitAsync(w, tailWord, tail, CHANNEL_SLICE_MS);
      if (waiting.async) await waiting.value;
    } finally {
      Atomics.store(w, out.line + PAIR_WORD.PRODUCER_WAITING, 0);
    }
  }

  // ---- consumer --------------------------------------------------------------------------------

  /** Delivers every complete record of every inbound ring; true when any was delivered. */
  #drain(): boolean {
    if (this.#draining || this.#sink === null) return false;
    this.#draining = true;
    let any = false;
    try {
      this.#lastBell = Atomics.load(this.#words, this.#bell);
      for (let source = 0; source < this.#in.length; source++) {
        const inbound = this.#in[source];
        if (inbound && this.#drainFrom(source, inbound)) any = true;
      }
    } finally {
      this.#draining = false;
    }
    return any;
  }

  #drainFrom(source: number, inbound: Inbound): boolean {
    const w = this.#words;
    if (!inbound.current) {
      this.#makeCurrent(inbound.line);
      inbound.current = true;
      inbound.tail = 0;
    }
    let any = false;
    const start = inbound.tail;
    for (;;) {
      const head = Atomics.load(w, inbound.line + PAIR_WORD.HEAD);
      const available = (head - inbound.tail) >>> 0;
      if (available === 0) break;
      const moved = inbound.partial
        ? this.#continue(source, inbound, available)
        : this.#next(source, inbound, available);
      if (moved === 0) break;
      any = true;
    }
    if (inbound.tail !== start) {
      Atomics.store(w, inbound.line + PAIR_WORD.TAIL, inbound.tail);
      if (Atomics.load(w, inbound.line + PAIR_WORD.PRODUCER_WAITING) !== 0) {
        Atomics.notify(w, inbound.line + PAIR_WORD.TAIL);
      }
    }
    return any;
  }

  /** The record at the tail: delivered, started (too large for the ring), or 0 when incomplete. */
  #next(source: number, inbound: Inbound, available: number): number {
    const w = this.#words;
    const pos = inbound.tail & this.#mask;
    const at = (inbound.ring + pos) >> 2;
    const w0 = w[at] as number;
    const headerBytes = w0 & 0xff;
    const payloadBytes = (w0 >>> 8) * TWO_32 + ((w[at + 1] as number) >>> 0);
    const record = recordBytes(headerBytes, payloadBytes);
    const body = inbound.ring + pos + PREFIX_BYTES;
    if (record <= this.#cap) {
      if (available < record) return 0;
      let header: Uint8Array;
      let payload: Uint8Array;
      if (pos + record <= this.#cap) {
        header = this.#bytes.subarray(body, body + headerBytes);
        payload = this.#bytes.subarray(body + headerBytes, body + headerBytes + payloadBytes);
      } else {
        const scratch = (this.#scratch ??= new Uint8Array(this.#cap));
        this.#copyOut(
          inbound.ring,
          (pos + PREFIX_BYTES) & this.#mask,
          scratch,
          0,
          headerBytes + payloadBytes,
        );
        header = scratch.subarray(0, headerBytes);
        payload = scratch.subarray(headerBytes, headerBytes + payloadBytes);
      }
      inbound.tail = (inbound.tail + record) | 0;
      this.#sink!(source, header, payload);
      return record;
    }
    // Larger than the ring: reassemble. The producer published prefix and header together.
    const header = new Uint8Array(headerBytes);
    this.#copyOut(inbound.ring, (pos + PREFIX_BYTES) & this.#mask, header, 0, headerBytes);
    inbound.partial = {
      header,
      payload: new Uint8Array(payloadBytes),
      record,
      got: PREFIX_BYTES + headerBytes,
    };
    inbound.tail = (inbound.tail + PREFIX_BYTES + headerBytes) | 0;
    return (
      PREFIX_BYTES + headerBytes + this.#continue(source, inbound, available - PREFIX_BYTES - headerBytes)
    );
  }

  /** Copies what arrived of the record being reassembled; delivers it when whole. */
  #continue(source: number, inbound: Inbound, available: number): number {
    const partial = inbound.partial!;
    const payloadStart = PREFIX_BYTES + partial.header.length;
    const payloadEnd = payloadStart + partial.payload.length;
    const take = Math.min(available, partial.record - partial.got);
    const copy = Math.max(0, Math.min(take, payloadEnd - partial.got));
    if (copy > 0) {
      this.#copyOut(
        inbound.ring,
        inbound.tail & this.#mask,
        partial.payload,
        partial.got - payloadStart,
        copy,
      );
    }
    partial.got += take;
    inbound.tail = (inbound.tail + take) | 0;
    if (partial.got === partial.record) {
      inbound.partial = null;
      this.#sink!(source, partial.header, partial.payload);
    }
    return take;
  }

  #copyOut(ring: number, pos: number, dst: Uint8Array, at: number, n: number): void {
    if (n === 0) return;
    const first = Math.min(n, this.#cap - pos);
    const bytes = this.#bytes;
    dst.set(bytes.subarray(ring + pos, ring + pos + first), at);
    if (n > first) dst.set(bytes.subarray(ring, ring + n - first), at + first);
  }

  /** Delivers frames whenever they arrive, also while no operation waits; watches for failure. */
  async #listen(): Promise<void> {
    const w = this.#words;
    const sleepers = this.#bell + SLEEPERS_WORD;
    while (this.#failure === null) {
      const bell = Atomics.load(w, this.#bell);
      if (bell !== this.#lastBell) this.#drain();
      const error = this.#check();
      if (error) {
        this.#failWith(error);
        return;
      }
      Atomics.add(w, sleepers, 1);
      try {
        // Pending, this does not keep the event loop alive: an idle rank may exit (setActive holds it).
        const waiting = waitAsync(w, this.#bell, this.#lastBell, CHANNEL_SLICE_MS);
        if (waiting.async) await waiting.value;
      } finally {
        Atomics.sub(w, sleepers, 1);
      }
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /**
   * A ring is reset once per group generation (§5.6), by whichever end reaches it first: the words
   * of an ended generation may hold bytes nobody received. EPOCH = 1 + generation; -1 while resetting.
   */
  #makeCurrent(line: number): void {
    const w = this.#words;
    const want = this.#m.presence.generation + 1;
    for (;;) {
      const epoch = Atomics.load(w, line + PAIR_WORD.EPOCH);
      if (epoch === want || epoch > want) return;
      if (epoch === -1) continue;
      if (Atomics.compareExchange(w, line + PAIR_WORD.EPOCH, epoch, -1) !== epoch) continue;
      Atomics.store(w, line + PAIR_WORD.HEAD, 0);
      Atomics.store(w, line + PAIR_WORD.TAIL, 0);
      Atomics.store(w, line + PAIR_WORD.PRODUCER_WAITING, 0);
      Atomics.store(w, line + PAIR_WORD.EPOCH, want);
      return;
    }
  }

  /** The group's failure (abort, a departed or gone rank, the generation ended), or null. */
  #check(): CommError | null {
    const m = this.#m;
    if (Atomics.load(m.words, W.ABORT) === 0 && !m.presence.anyDeparted()) return null;
    try {
      m.barrier.throwIfFailed(OPERATION);
      return null;
    } catch (error) {
      return error as CommError;
    }
  }

  /** Fails once: frames already arrived are delivered first, then every pending post rejects and onFailure runs. */
  #failWith(error: CommError): CommError {
    if (this.#failure) return this.#failure;
    if (this.#deliverOnFailure) this.#drain();
    this.#failure = error;
    for (const out of this.#out) {
      if (!out) continue;
      for (const post of out.queue.splice(0)) post.reject(error);
    }
    this.#active = false;
    this.#holdOpen();
    // Wake this rank's listener and waitForFrames so they see the failure now.
    Atomics.add(this.#words, this.#bell, 1);
    Atomics.notify(this.#words, this.#bell);
    this.#onFailure?.(error);
    return error;
  }

  /** A ref'd timer while an operation waits (setActive) or a post waits for room. */
  #holdOpen(): void {
    const hold = this.#failure === null && (this.#active || this.#waitingPosts > 0);
    if (hold && this.#keepAlive === null) this.#keepAlive = setInterval(noop, CHANNEL_SLICE_MS * 10);
    else if (!hold && this.#keepAlive !== null) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = null;
    }
  }
}

function noop(): void {}
