/**
 * What the collectives on messages need from their communicator (CheckedCommunicator): its rank
 * and size, its backend's rounds for agreement, its message group for data, and its call-order
 * queue with the way a precondition failure on one rank reaches every rank (spec/communicator.md
 * §6.1–6.2). The collectives themselves live in rooted.ts and exchange.ts.
 */
import type { Backend } from '../communicator.js';
import type { DType, NumericArray } from '../dtypes.js';
import { CommError } from '../errors.js';
import { fingerprint, type Fingerprint, type RootedKind } from '../fingerprint.js';
import type { MessageGroup } from '../messages/layer.js';
import { checkIntArray } from '../validate.js';
import { BlockMover } from './blocks.js';

export interface RootedHost {
  readonly rank: number;
  readonly size: number;
  readonly backend: Backend;
  /** The communicator's place in the message layer (made on first use). */
  messageGroup(): MessageGroup;
  /** Throws InvalidCommunicator when closed. */
  checkOpen(operation: string): void;
  /** Runs `body` in the communicator's call order (after every earlier operation). */
  schedule<R>(operation: string, body: () => Promise<R>): Promise<R>;
  /** A precondition failed at call time: every rank rejects with its code (§6.2). */
  refuse<R>(operation: string, error: unknown): Promise<R>;
  /** Inside a scheduled body: a precondition failed; tell the other ranks, then throw `error`. */
  abandon(operation: string, error: unknown): Promise<never>;
}

/** The agreement and data plumbing every collective on messages shares. */
export class MessageCollectiveBase {
  /**
   * Collectives on messages this communicator has agreed on: every rank counts the same ones (a
   * call counts only once its agreement passed, which it does on every rank or none), so the
   * number is the same everywhere and tags each call's messages.
   */
  #sequence = 0;

  constructor(protected readonly host: RootedHost) {}

  protected get rank(): number {
    return this.host.rank;
  }
  protected get size(): number {
    return this.host.size;
  }

  /**
   * The agreement round: a barrier of the backend that compares whole fingerprints and raises
   * CollectiveMismatch (or the precondition code of an `invalid` fingerprint) on every rank.
   * Resolves with the mover of this call's blocks.
   */
  protected async agree(operation: string, fp: Fingerprint, dtype: DType): Promise<BlockMover> {
    await this.host.backend.barrier(fp);
    const sequence = this.#sequence++;
    return new BlockMover(this.host.messageGroup(), sequence, dtype, operation);
  }

  /**
   * Every rank's number (e.g. its count) through the backend's allgatherv: metadata as float64
   * whatever the user's dtype, with a fingerprint that names no dtype (spec §6.3).
   */
  protected async exchange(kind: RootedKind, root: number, mine: readonly number[]): Promise<number[]> {
    const width = mine.length;
    const all = new Float64Array(this.size * width);
    const counts = new Array<number>(this.size).fill(width);
    const displs = counts.map((_, r) => r * width);
    await this.host.backend.allgatherv(
      fingerprint(kind, { root, count: width }),
      Float64Array.from(mine),
      all,
      counts,
      displs,
    );
    return Array.from(all);
  }

  /** The root's numbers on every rank through the backend's broadcast (metadata, §6.3). */
  protected async fromRoot(kind: RootedKind, root: number, values: Float64Array): Promise<number[]> {
    await this.host.backend.broadcast(fingerprint(kind, { root, count: values.length }), values, root);
    return Array.from(values);
  }

  /** Buffers that changed length between the call and its start are a precondition failure. */
  protected unchanged(buffers: Record<string, NumericArray | null | undefined>, lengths: number[]): boolean {
    return Object.values(buffers).every((b, i) => b === null || b === undefined || b.length === lengths[i]);
  }
}

/** `size` non-negative integers, or undefined. */
export function optionalCounts(
  operation: string,
  name: string,
  value: unknown,
  size: number,
): number[] | undefined {
  return value === undefined ? undefined : checkIntArray(operation, name, value, size);
}

/** Throws unless `options` is undefined or an object. */
export function checkOptions(operation: string, options: unknown, fields: string): void {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new CommError('InvalidArgument', operation, `options must be an object { ${fields} } or omitted.`, {
      argument: 'options',
    });
  }
}

/** Each block [displs[r], displs[r] + counts[r]) lies within an array of `length` elements. */
export function checkWithin(
  operation: string,
  name: string,
  counts: readonly number[],
  displs: readonly number[],
  length: number,
): void {
  for (let r = 0; r < counts.length; r++) {
    const end = (displs[r] as number) + (counts[r] as number);
    if ((counts[r] as number) > 0 && end > length) {
      throw new CommError(
        'InvalidBufferSize',
        operation,
        `block ${r} of ${name} ends at element ${end} but ${name} has ${length} elements; pass a ${name} of at least ${end} elements or fix counts/displs.`,
        { argument: name, block: r, end, length },
      );
    }
  }
}

/** The block length of an array split into `size` equal blocks. */
export function blockLength(operation: string, name: string, array: NumericArray, size: number): number {
  if (array.length % size !== 0) {
    throw new CommError(
      'InvalidBufferSize',
      operation,
      `${name} has ${array.length} elements, not a multiple of the ${size} ranks; pass size × k elements (k per rank).`,
      { argument: name, received: array.length, size },
    );
  }
  return array.length / size;
}
