/**
 * The backend of a communicator made by split() or dup() (spec/communicator.md §11.4): its
 * collectives are messages over the world's message layer, in the group's collective context, so
 * every backend gets split/dup by implementing only its pair channel.
 *
 * Each collective is an agreement through group rank 0 (protocol.ts) followed by a data phase:
 * allreduce folds at rank 0 in rank order with the one reduction kernel (bit-identical to the world's
 * allreduce of the same inputs) and sends the result back; allgatherv gathers at rank 0 and sends
 * the packed blocks back; broadcast sends from the root to each member. One collective at a time
 * (the front end's queue), and messages between two ranks stay in order, so consecutive collectives
 * never cross.
 */
import type { Backend, BackendName, Communicator, SharedRegion } from '../communicator.js';
import { bytesOf, dtypeOf, type DType, type NumericArray, type ReduceOp } from '../dtypes.js';
import { CommError } from '../errors.js';
import { fingerprintsEqual, mismatchError, type Fingerprint } from '../fingerprint.js';
import { HeapRegion } from '../heap-region.js';
import type { PairChannel } from '../messages/channel.js';
import type { Envelope, MessageGroup, MessageLayer } from '../messages/layer.js';
import { createOneRankCommunicator } from '../one-rank.js';
import { reduceRankOrder } from '../reduce.js';
import { allocate } from '../validate.js';
import { detachedChannel } from './detached-channel.js';
import {
  decodeFingerprintBytes,
  decodeFingerprintList,
  EMPTY,
  encodeFingerprintBytes,
  encodeFingerprintList,
  GROUP_TAG,
  KIND_AGREED,
  KIND_CLOSED,
  KIND_DEPARTED_RANK,
  KIND_FINGERPRINT,
  KIND_MISMATCH,
  protocolError,
} from './protocol.js';

/** Group rank 0 judges every agreement and folds every reduction. */
const JUDGE = 0;

export interface GroupBackendOptions {
  /** The group's context ids and world ranks; `group.context + 1` carries its collectives. */
  readonly group: MessageGroup;
  /** This process's rank in the group. */
  readonly rank: number;
  /** The parent's backend name (`comm.backend` of a derived communicator). */
  readonly name: BackendName;
  /** How the communicator was made, for messages: e.g. "split(color 1)" or "dup()". */
  readonly origin: string;
}

export class GroupBackend implements Backend {
  readonly name: BackendName;
  readonly rank: number;
  readonly size: number;
  /**
   * Every rank of a derived communicator is its own node leader: its shared regions are heap copies
   * and its splitLocal() has one rank (§11.4), so `if (isLeader) write; fence; read` stays correct.
   */
  readonly isLeader = true;
  /** Never used: the world's engine is shared through the MessageGroup. */
  readonly channel: PairChannel;
  readonly #layer: MessageLayer;
  readonly #context: number;
  readonly #members: readonly number[];
  readonly #origin: string;
  /** Collectives started, for mismatch messages. */
  #sequence = 0;
  #closed = false;
  /** Set once a member closed the communicator: every later collective rejects with it at once. */
  #departure: CommError | null = null;
  /** The protocol of the collective in flight (it runs to its end even after close, see close()). */
  #inFlight: Promise<unknown> = Promise.resolve();
  /** Rejects the caller's promise of the collective in flight (close). */
  #abandon: ((error: CommError) => void) | null = null;

  constructor(options: GroupBackendOptions) {
    this.#layer = options.group.layer;
    this.#context = options.group.context + 1;
    this.#members = options.group.members;
    this.rank = options.rank;
    this.size = options.group.members.length;
    this.name = options.name;
    this.#origin = options.origin;
    this.channel = detachedChannel(options.origin);
  }

  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): Promise<void> {
    return this.#collective(fp, async (operation) => {
      const dtype = dtypeOf(send) as DType;
      const n = send.length;
      if (this.rank === JUDGE) {
        const parts: NumericArray[] = [send];
        const arrivals: Array<Promise<Envelope>> = [];
        await this.#agree(fp, operation, () => {
          for (let r = 1; r < this.size; r++) {
            const part = new dtype.ctor(n);
            parts.push(part);
            arrivals.push(this.#receive(r, operation, 'its contribution', dtype.code, bytesOf(part)));
          }
        });
        await Promise.all(arrivals);
        const out = this.#closed ? new dtype.ctor(n) : recv;
        reduceRankOrder(out, parts, op);
        await this.#toEveryMember(operation, dtype.code, () => bytesOf(out));
      } else {
        await this.#agree(fp, operation);
        const result = this.#receive(JUDGE, operation, 'the result', dtype.code, () =>
          this.#closed ? new Uint8Array(recv.byteLength) : bytesOf(recv),
        );
        await this.#send(JUDGE, dtype.code, bytesOf(send), operation);
        await result;
      }
    });
  }

  allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> {
    return this.#collective(fp, async (operation) => {
      const dtype = dtypeOf(send) as DType;
      const bpe = dtype.ctor.BYTES_PER_ELEMENT;
      const total = counts.reduce((a, b) => a + b, 0);
      const packed = isPacked(counts, displs);
      const block = (into: NumericArray, r: number): Uint8Array =>
        new Uint8Array(
          into.buffer,
          into.byteOffset + (displs[r] as number) * bpe,
          (counts[r] as number) * bpe,
        );
      if (this.rank === JUDGE) {
        // The judge gathers into its own recv (a scratch copy once closed), then sends every block.
        const gathered = this.#closed ? new dtype.ctor(recv.length) : recv;
        const arrivals: Array<Promise<Envelope>> = [];
        await this.#agree(fp, operation, () => {
          for (let r = 1; r < this.size; r++) {
            arrivals.push(this.#receive(r, operation, 'its block', dtype.code, block(gathered, r)));
          }
        });
        (gathered as Float64Array).set(send as Float64Array, displs[JUDGE]);
        await Promise.all(arrivals);
        const blocks = packed
          ? bytesOf(gathered).subarray(0, total * bpe)
          : packBlocks(gathered, dtype, counts, displs);
        await this.#toEveryMember(operation, dtype.code, () => blocks);
      } else {
        await this.#agree(fp, operation);
        const staging = packed ? null : new dtype.ctor(total);
        const result = this.#receive(JUDGE, operation, 'the gathered blocks', dtype.code, () =>
          this.#closed
            ? new Uint8Array(total * bpe)
            : staging
              ? bytesOf(staging)
              : bytesOf(recv).subarray(0, total * bpe),
        );
        await this.#send(JUDGE, dtype.code, bytesOf(send), operation);
        await result;
        if (staging !== null && !this.#closed) unpackBlocks(staging, recv, counts, displs);
      }
    });
  }

  broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> {
    return this.#collective(fp, async (operation) => {
      const dtype = dtypeOf(buf) as DType;
      await this.#agree(fp, operation);
      if (this.rank === root) {
        const sends: Array<Promise<void>> = [];
        for (let r = 0; r < this.size; r++) {
          if (r !== root) sends.push(this.#send(r, dtype.code, bytesOf(buf), operation));
        }
        await Promise.all(sends);
      } else {
        await this.#receive(root, operation, 'the broadcast data', dtype.code, () =>
          this.#closed ? new Uint8Array(buf.byteLength) : bytesOf(buf),
        );
      }
    });
  }

  barrier(fp: Fingerprint): Promise<void> {
    return this.#collective(fp, (operation) => this.#agree(fp, operation));
  }

  /**
   * The heap fallback (§4.8): the members agree on the request, then each holds its own copy and is
   * its own leader, as on tcp — a derived communicator does not know which of its ranks share memory.
   */
  async createSharedRegion<T extends NumericArray>(
    fp: Fingerprint,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>> {
    await this.barrier(fp);
    return new HeapRegion(allocate<T>('createSharedRegion', dtype, count));
  }

  /** Every rank of a derived communicator is its own node (see isLeader): a one-rank communicator. */
  async splitLocal(): Promise<Communicator> {
    return createOneRankCommunicator();
  }

  /**
   * Local (§11.5): the caller's collective in flight rejects at once with InvalidCommunicator, but its
   * messages run to their end in the background — every receive a peer's rendezvous send may wait
   * for stays posted — and then one KIND_CLOSED notice goes to rank 0 (from rank 0: to every member),
   * so a peer waiting on this rank, or calling a collective later, gets CollectiveFailed naming it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abandon?.(
      new CommError(
        'InvalidCommunicator',
        'close',
        'the communicator was closed while this collective was in flight.',
        {
          rank: this.rank,
        },
      ),
    );
    void this.#inFlight.then(() => {
      const told = this.rank === JUDGE ? this.#members.map((_, r) => r).filter((r) => r !== JUDGE) : [JUDGE];
      for (const r of told) this.#send(r, KIND_CLOSED, EMPTY, 'close').catch(() => {});
    });
  }

  /** Runs one collective: refused when closed or departed; the caller's promise settles early on close. */
  #collective(fp: Fingerprint, protocol: (operation: string) => Promise<void>): Promise<void> {
    const operation = fp.kind;
    if (this.#closed) return Promise.reject(closedError(operation, this.rank));
    if (this.#departure !== null) return Promise.reject(this.#departure);
    this.#sequence++;
    const run = protocol(operation).catch((error: unknown) => {
      if (error instanceof CommError && error.details['departed'] !== undefined) this.#departure = error;
      throw error;
    });
    this.#inFlight = run.catch(() => {});
    return new Promise<void>((resolve, reject) => {
      this.#abandon = reject;
      run.then(resolve, reject);
    });
  }

  /**
   * The agreement (protocol.ts): members send their fingerprint to the judge and wait for its verdict;
   * the judge compares every fingerprint, runs `beforeAgreed` (posting the data phase's receives)
   * and answers. Resolves when every fingerprint agrees; otherwise rejects on every rank with the
   * same error (mismatchError, or CollectiveFailed naming a rank that closed).
   */
  async #agree(fp: Fingerprint, operation: string, beforeAgreed?: () => void): Promise<void> {
    const sequence = this.#sequence;
    if (this.rank !== JUDGE) {
      const verdict = this.#receiveControl(JUDGE, operation, 'the verdict of rank 0');
      await this.#send(JUDGE, KIND_FINGERPRINT, encodeFingerprintBytes(fp), operation);
      const { kind, bytes } = await verdict;
      if (kind === KIND_AGREED) return;
      if (kind === KIND_MISMATCH) throw mismatchError(operation, sequence, decodeFingerprintList(bytes));
      if (kind === KIND_DEPARTED_RANK)
        throw this.#departedError(operation, new Int32Array(bytes.buffer, bytes.byteOffset, 1)[0] as number);
      if (kind === KIND_CLOSED) throw this.#departedError(operation, JUDGE);
      throw protocolError(operation, `a verdict of kind ${kind}`);
    }
    const arrivals = this.#members.map((_, r) =>
      r === JUDGE ? Promise.resolve(null) : this.#receiveControl(r, operation, 'its fingerprint'),
    );
    const messages = await Promise.all(arrivals);
    const departed = messages.findIndex((m) => m?.kind === KIND_CLOSED);
    const fps = messages.map((m) =>
      m === null || m.kind !== KIND_FINGERPRINT ? fp : decodeFingerprintBytes(m.bytes),
    );
    let verdict: number;
    let payload: Uint8Array;
    let error: CommError | null = null;
    if (departed >= 0) {
      verdict = KIND_DEPARTED_RANK;
      payload = bytesOf(Int32Array.of(departed));
      error = this.#departedError(operation, departed);
    } else if (fps.some((f) => !fingerprintsEqual(f, fp))) {
      verdict = KIND_MISMATCH;
      payload = encodeFingerprintList(fps);
      error = mismatchError(operation, sequence, fps);
    } else {
      verdict = KIND_AGREED;
      payload = EMPTY;
      beforeAgreed?.();
    }
    const answered = messages.flatMap((m, r) => (m === null || m.kind === KIND_CLOSED ? [] : [r]));
    await Promise.all(answered.map((r) => this.#send(r, verdict, payload, operation)));
    if (error !== null) throw error;
  }

  /** Sends to every member but the judge; `payload` is made once, after the data is in place. */
  async #toEveryMember(operation: string, kind: number, payload: () => Uint8Array): Promise<void> {
    const bytes = payload();
    const sends: Array<Promise<void>> = [];
    for (let r = 1; r < this.size; r++) sends.push(this.#send(r, kind, bytes, operation));
    await Promise.all(sends);
  }

  #send(r: number, kind: number, payload: Uint8Array, operation: string): Promise<void> {
    const dest = this.#members[r] as number;
    return this.#layer.send(
      this.#context,
      dest,
      GROUP_TAG,
      kind,
      payload,
      this.#describe(operation, r, 'a receive', 'by'),
    );
  }

  /** A control message (fingerprint, verdict, closed notice) from group rank r, copied. */
  async #receiveControl(
    r: number,
    operation: string,
    what: string,
  ): Promise<{ kind: number; bytes: Uint8Array }> {
    let bytes = EMPTY;
    const envelope = await this.#layer.recv(
      this.#context,
      this.#members[r] as number,
      GROUP_TAG,
      (e) => (bytes = new Uint8Array(e.bytes)),
      this.#describe(operation, r, what),
    );
    return { kind: envelope.kind, bytes };
  }

  /** A data message from group rank r of exactly `into`'s length and the dtype `code`, placed into it. */
  #receive(
    r: number,
    operation: string,
    what: string,
    code: number,
    into: Uint8Array | (() => Uint8Array),
  ): Promise<Envelope> {
    return this.#layer.recv(
      this.#context,
      this.#members[r] as number,
      GROUP_TAG,
      (e) => {
        const target = typeof into === 'function' ? into() : into;
        if (e.kind !== code || e.bytes !== target.length) {
          throw protocolError(
            operation,
            `expected ${target.length} bytes of kind ${code} from rank ${r}, got ${e.bytes} of kind ${e.kind}`,
          );
        }
        return target;
      },
      this.#describe(operation, r, what),
    );
  }

  #describe(operation: string, r: number, what: string, preposition = 'from'): string {
    return `${operation} on the ${this.#origin} communicator (context ${this.#context - 1}): waiting for ${what} ${preposition} rank ${r} (world rank ${this.#members[r]})`;
  }

  #departedError(operation: string, r: number): CommError {
    return new CommError(
      'CollectiveFailed',
      operation,
      `rank ${r} of the ${this.#origin} communicator (world rank ${this.#members[r]}) closed it; its other ranks can no longer run collectives on it. Close it on every rank, and split or dup its parent again to continue.`,
      { rank: r, worldRank: this.#members[r], departed: true },
    );
  }
}

function closedError(operation: string, rank: number): CommError {
  return new CommError(
    'InvalidCommunicator',
    operation,
    'the communicator is closed; split or dup its parent again to communicate.',
    {
      rank,
    },
  );
}

function isPacked(counts: readonly number[], displs: readonly number[]): boolean {
  let at = 0;
  for (let r = 0; r < counts.length; r++) {
    if (displs[r] !== at) return false;
    at += counts[r] as number;
  }
  return true;
}

function packBlocks(
  from: NumericArray,
  dtype: DType,
  counts: readonly number[],
  displs: readonly number[],
): Uint8Array {
  const total = counts.reduce((a, b) => a + b, 0);
  const out = new dtype.ctor(total) as Float64Array;
  let at = 0;
  counts.forEach((c, r) => {
    const d = displs[r] as number;
    out.set((from as Float64Array).subarray(d, d + c), at);
    at += c;
  });
  return bytesOf(out);
}

function unpackBlocks(
  packed: NumericArray,
  into: NumericArray,
  counts: readonly number[],
  displs: readonly number[],
): void {
  let at = 0;
  counts.forEach((c, r) => {
    (into as Float64Array).set((packed as Float64Array).subarray(at, at + c), displs[r]);
    at += c;
  });
}
