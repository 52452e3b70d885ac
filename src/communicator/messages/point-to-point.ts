/**
 * The point-to-point calls of a communicator (spec/communicator.md §10.1–§10.4): argument checks,
 * rank translation through the {@link MessageGroup}, placement of received payloads, and the
 * object family's encoding. Each call goes straight to the message layer — never queued behind
 * the communicator's collectives.
 */
import {
  bytesOf,
  dtypeByCode,
  dtypeByCtor,
  type DType,
  type NumericArray,
  type NumericArrayConstructor,
} from '../dtypes.js';
import { CommError } from '../errors.js';
import { decodeObject, encodeWith } from '../objects.js';
import { allocate, checkBuffer } from '../validate.js';
import type { MessageStatus, PointToPoint, RecvObjectResult, RecvResult, SendrecvOptions } from './api.js';
import {
  ANY_SOURCE,
  ANY_TAG,
  MAX_TAG,
  OBJECT_KIND,
  type Envelope,
  type MessageGroup,
  type Placement,
} from './layer.js';

/** What the calls need of their communicator besides the group. */
export interface PointToPointHost {
  readonly rank: number;
  readonly size: number;
  readonly backend: string;
  /** Throws InvalidCommunicator when the communicator is closed. */
  checkOpen(operation: string): void;
}

export class PointToPointCalls implements PointToPoint {
  readonly #group: MessageGroup;
  readonly #host: PointToPointHost;
  /** Communicator rank of each world rank of the group (the inverse of members). */
  readonly #rankOf: Map<number, number>;
  readonly #where: string;

  constructor(group: MessageGroup, host: PointToPointHost) {
    this.#group = group;
    this.#host = host;
    this.#rankOf = new Map(group.members.map((world, rank) => [world, rank]));
    this.#where =
      group.context === 0
        ? `on the ${host.backend} world communicator`
        : `on a ${host.backend} communicator (context ${group.context})`;
  }

  send<T extends NumericArray>(buf: T, dest: number, tag = 0): Promise<void> {
    try {
      return this.#prepareSend('send', buf, dest, tag)();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  recv<T extends NumericArray>(
    buf: T | NumericArrayConstructor<T>,
    source = ANY_SOURCE,
    tag = ANY_TAG,
  ): Promise<RecvResult<T>> {
    try {
      return this.#prepareRecv('recv', buf, source, tag)();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  sendrecv<T extends NumericArray, U extends NumericArray>(
    send: T,
    dest: number,
    recv: U | NumericArrayConstructor<U>,
    source = ANY_SOURCE,
    options: SendrecvOptions = {},
  ): Promise<RecvResult<U>> {
    const operation = 'sendrecv';
    try {
      if (options === null || typeof options !== 'object') {
        throw new CommError(
          'InvalidArgument',
          operation,
          'options must be an object { sendTag?, recvTag? }.',
          {
            argument: 'options',
          },
        );
      }
      // Both halves checked before either starts: a bad argument leaves no message behind. When recv
      // shares bytes with send (a shift in place, MPI_Sendrecv_replace), the send goes from a copy: the
      // receive may fill those bytes before the send reads them (at once for a message already here,
      // or before a rendezvous peer's go-ahead).
      const sending = this.#prepareSend(
        operation,
        sharesBytes(send, recv) ? (send.slice() as T) : send,
        dest,
        options.sendTag ?? 0,
      );
      const receiving = this.#prepareRecv(operation, recv, source, options.recvTag ?? ANY_TAG);
      const received = receiving();
      return Promise.all([sending(), received]).then(() => received);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  probe(source = ANY_SOURCE, tag = ANY_TAG): Promise<MessageStatus> {
    const operation = 'probe';
    try {
      this.#host.checkOpen(operation);
      const worldSource = this.#checkSource(operation, source);
      checkTag(operation, tag, true);
      const describe = `probe ${this.#from(source, tag)}`;
      return this.#group.layer
        .probe(this.#group.context, worldSource, tag, describe)
        .then((envelope) => this.#status(envelope, countOf(envelope)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  iprobe(source = ANY_SOURCE, tag = ANY_TAG): MessageStatus | null {
    const operation = 'iprobe';
    this.#host.checkOpen(operation);
    const worldSource = this.#checkSource(operation, source);
    checkTag(operation, tag, true);
    const envelope = this.#group.layer.iprobe(this.#group.context, worldSource, tag);
    return envelope === null ? null : this.#status(envelope, countOf(envelope));
  }

  sendObject(value: unknown, dest: number, tag = 0): Promise<void> {
    const operation = 'sendObject';
    try {
      this.#host.checkOpen(operation);
      const worldDest = this.#checkDest(operation, dest);
      checkTag(operation, tag, false);
      const bytes = encodeWith(operation, value);
      const describe = `sendObject to rank ${dest}, tag ${tag} ${this.#where}`;
      return this.#group.layer.send(this.#group.context, worldDest, tag, OBJECT_KIND, bytes, describe);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  recvObject<V = unknown>(source = ANY_SOURCE, tag = ANY_TAG): Promise<RecvObjectResult<V>> {
    const operation = 'recvObject';
    try {
      this.#host.checkOpen(operation);
      const worldSource = this.#checkSource(operation, source);
      checkTag(operation, tag, true);
      let bytes: Uint8Array = new Uint8Array(0);
      const place: Placement = (envelope) => {
        if (envelope.kind !== OBJECT_KIND) {
          throw new CommError(
            'InvalidArgument',
            operation,
            `the matching message from rank ${this.#rankOf.get(envelope.source)} (tag ${envelope.tag}) is a buffer of ${kindName(envelope.kind)} elements, sent with send(); receive it with recv(). It was consumed.`,
            { source: this.#rankOf.get(envelope.source), tag: envelope.tag, kind: kindName(envelope.kind) },
          );
        }
        bytes = allocate<Uint8Array>(operation, BYTES, envelope.bytes);
        return bytes;
      };
      const describe = `recvObject ${this.#from(source, tag)}`;
      return this.#group.layer
        .recv(this.#group.context, worldSource, tag, place, describe)
        .then((envelope) => ({
          value: decodeObject<V>(bytes),
          status: this.#status(envelope, envelope.bytes),
        }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Checks a send's arguments now; the returned function starts it. */
  #prepareSend(operation: string, buf: NumericArray, dest: number, tag: number): () => Promise<void> {
    this.#host.checkOpen(operation);
    const dtype = checkBuffer(operation, operation === 'send' ? 'buf' : 'send', buf);
    const worldDest = this.#checkDest(operation, dest);
    checkTag(operation, tag, false);
    const describe = `${operation} to rank ${dest}, tag ${tag} ${this.#where}`;
    return () =>
      this.#group.layer.send(this.#group.context, worldDest, tag, dtype.code, bytesOf(buf), describe);
  }

  /** Checks a receive's arguments now; the returned function posts it. */
  #prepareRecv<T extends NumericArray>(
    operation: string,
    target: T | NumericArrayConstructor<T>,
    source: number,
    tag: number,
  ): () => Promise<RecvResult<T>> {
    this.#host.checkOpen(operation);
    const name = operation === 'recv' ? 'buf' : 'recv';
    const isCtor = typeof target === 'function';
    const dtype = isCtor ? checkCtor(operation, name, target) : checkBuffer(operation, name, target);
    const worldSource = this.#checkSource(operation, source);
    checkTag(operation, tag, true);
    let data: T | null = isCtor ? null : (target as T);
    const place: Placement = (envelope) => {
      this.#checkKind(operation, envelope, dtype);
      const count = envelope.bytes / dtype.bytes;
      if (isCtor) {
        data = allocate<T>(operation, dtype, count);
        return bytesOf(data);
      }
      const buf = target as T;
      checkBuffer(operation, name, buf); // still attached
      if (count > buf.length) {
        throw new CommError(
          'InvalidBufferSize',
          operation,
          `the matching message from rank ${this.#rankOf.get(envelope.source)} (tag ${envelope.tag}) has ${count} elements but ${name} holds ${buf.length}; it was consumed (truncation, as in MPI). Receive into a larger buffer, pass the constructor (${dtype.ctor.name}) to get a new array of the message's length, or probe() first.`,
          {
            argument: name,
            expected: count,
            received: buf.length,
            source: this.#rankOf.get(envelope.source),
            tag: envelope.tag,
          },
        );
      }
      data = (count === buf.length ? buf : buf.subarray(0, count)) as T;
      return bytesOf(buf);
    };
    const describe = `${operation} ${this.#from(source, tag)}`;
    return () =>
      this.#group.layer.recv(this.#group.context, worldSource, tag, place, describe).then((envelope) => ({
        data: data as T,
        status: this.#status(envelope, envelope.bytes / dtype.bytes),
      }));
  }

  #checkKind(operation: string, envelope: Envelope, dtype: DType): void {
    if (envelope.kind === dtype.code) return;
    const source = this.#rankOf.get(envelope.source);
    const what =
      envelope.kind === OBJECT_KIND
        ? 'an object, sent with sendObject(); receive it with recvObject()'
        : `a buffer of ${kindName(envelope.kind)} elements; receive it into that dtype (or probe() first)`;
    throw new CommError(
      'InvalidArgument',
      operation,
      `the matching message from rank ${source} (tag ${envelope.tag}) is ${what}, not ${dtype.name}. It was consumed.`,
      { source, tag: envelope.tag, expected: dtype.name, received: kindName(envelope.kind) },
    );
  }

  #checkDest(operation: string, dest: unknown): number {
    return this.#worldRank(operation, 'dest', dest, false);
  }

  #checkSource(operation: string, source: unknown): number {
    return this.#worldRank(operation, 'source', source, true);
  }

  #worldRank(operation: string, name: string, value: unknown, anyAllowed: boolean): number {
    if (anyAllowed && value === ANY_SOURCE) return ANY_SOURCE;
    const size = this.#host.size;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= size) {
      throw new CommError(
        'InvalidArgument',
        operation,
        `${name} must be an integer rank in [0, ${size - 1}]${anyAllowed ? ' or ANY_SOURCE (-1)' : ''}, got ${describe(value)}.`,
        { argument: name, received: describe(value), size },
      );
    }
    return this.#group.members[value] as number;
  }

  #from(source: number, tag: number): string {
    const who = source === ANY_SOURCE ? 'any rank' : `rank ${source}`;
    const which = tag === ANY_TAG ? 'any tag' : `tag ${tag}`;
    return `from ${who}, ${which} ${this.#where}`;
  }

  #status(envelope: Envelope, count: number): MessageStatus {
    return { source: this.#rankOf.get(envelope.source) as number, tag: envelope.tag, count };
  }
}

const BYTES = dtypeByCtor(Uint8Array) as DType;

function checkTag(operation: string, tag: unknown, anyAllowed: boolean): void {
  if (anyAllowed && tag === ANY_TAG) return;
  if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `tag must be an integer in [0, ${MAX_TAG}]${anyAllowed ? ' or ANY_TAG (-1)' : ''}, got ${describe(tag)}.`,
      { argument: 'tag', received: describe(tag) },
    );
  }
}

function checkCtor(operation: string, name: string, ctor: unknown): DType {
  const dtype = dtypeByCtor(ctor);
  if (dtype === undefined) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `${name} must be a numeric typed array or its constructor (e.g. Float64Array), got ${describe(ctor)}.`,
      { argument: name, received: describe(ctor) },
    );
  }
  return dtype;
}

/** A message's length in its own units: elements of its dtype, or bytes for an object. */
function countOf(envelope: Envelope): number {
  const dtype = envelope.kind === OBJECT_KIND ? undefined : dtypeByCode(envelope.kind);
  return dtype === undefined ? envelope.bytes : envelope.bytes / dtype.bytes;
}

function kindName(kind: number): string {
  return kind === OBJECT_KIND ? 'object' : (dtypeByCode(kind)?.name ?? `kind ${kind}`);
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `the function ${value.name || '(anonymous)'}`;
  if (value === null || typeof value !== 'object')
    return typeof value === 'string' ? `'${value}'` : String(value);
  return ArrayBuffer.isView(value) ? value.constructor.name : (value.constructor?.name ?? 'object');
}

/** Whether `recv` (a buffer, not a constructor) and `send` are views of overlapping bytes. */
function sharesBytes(send: NumericArray, recv: unknown): boolean {
  if (!ArrayBuffer.isView(recv) || typeof send !== 'object' || send === null || !ArrayBuffer.isView(send))
    return false;
  if (recv.buffer !== send.buffer) return false;
  const s0 = send.byteOffset;
  const r0 = recv.byteOffset;
  return s0 < r0 + recv.byteLength && r0 < s0 + send.byteLength;
}
