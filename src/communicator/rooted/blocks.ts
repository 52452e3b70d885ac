/**
 * Moving blocks of typed arrays over the message layer for one collective on messages
 * (spec/communicator.md §4.10): every message of one call travels in the communicator's collective
 * context (`group.context + 1`) with the call's tag, and every receive names its source, so the
 * non-overtaking rule keeps consecutive collectives apart. Ranks here are the communicator's; the
 * group maps them to world ranks.
 */
import { dtypeOf, type DType, type NumericArray, type ReduceOp } from '../dtypes.js';
import { CommError } from '../errors.js';
import { MAX_TAG, type MessageGroup } from '../messages/layer.js';
import { reduceStepFor } from '../reduce.js';

/**
 * Tags of collectives on messages: [ROOTED_TAG_BASE, MAX_TAG - 1], the call's sequence number modulo
 * ROOTED_TAG_SPAN. Tags below the base and MAX_TAG itself (group communicators' GROUP_TAG) stay
 * free for other protocols in the same context.
 */
export const ROOTED_TAG_BASE = 0x4000_0000;
export const ROOTED_TAG_SPAN = MAX_TAG - ROOTED_TAG_BASE;

/** A range of tags a family of collectives on messages cycles through, and how its calls are named. */
export interface TagRange {
  /** The first tag of the range. */
  readonly base: number;
  /** How many tags it has: call n uses `base + n % span`. */
  readonly span: number;
  /** Names the family in errors and stall warnings, e.g. "on messages". */
  readonly family: string;
}

/** The rooted collectives' range (rooted.ts, exchange.ts). */
export const ROOTED_TAGS: TagRange = { base: ROOTED_TAG_BASE, span: ROOTED_TAG_SPAN, family: 'on messages' };

/** The bytes of a typed array's elements (a view, no copy). */
export function bytesOf(array: NumericArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** True when a and b are views of exactly the same bytes (in place). */
export function sameBytes(a: NumericArray, b: NumericArray): boolean {
  return a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength);
}

/** The blocks of one call: sends and receives of typed-array blocks between the communicator's ranks. */
export class BlockMover {
  readonly #group: MessageGroup;
  readonly #context: number;
  readonly #tag: number;
  readonly #kind: number;
  readonly #label: string;

  constructor(
    group: MessageGroup,
    sequence: number,
    dtype: DType,
    operation: string,
    tags: TagRange = ROOTED_TAGS,
  ) {
    this.#group = group;
    this.#context = group.context + 1;
    this.#tag = tags.base + (sequence % tags.span);
    this.#kind = dtype.code;
    this.#label = `${operation} (collective #${sequence} ${tags.family})`;
  }

  /** Sends `block` to rank `to`; resolves when block may be reused. Empty blocks are not sent. */
  send(to: number, block: NumericArray): Promise<void> {
    if (block.length === 0) return Promise.resolve();
    return this.#group.layer.send(
      this.#context,
      this.#group.members[to] as number,
      this.#tag,
      this.#kind,
      bytesOf(block),
      `${this.#label}: block to rank ${to}`,
    );
  }

  /** Receives rank `from`'s block into `into` (exactly its length). Empty blocks are not received. */
  async recv(from: number, into: NumericArray): Promise<void> {
    if (into.length === 0) return;
    const expected = into.byteLength;
    await this.#group.layer.recv(
      this.#context,
      this.#group.members[from] as number,
      this.#tag,
      (envelope) => {
        if (envelope.kind !== this.#kind || envelope.bytes !== expected) {
          // Agreement compared dtype and layout first, so only a bug (or a rogue sender) gets here.
          throw new CommError(
            'CollectiveMismatch',
            this.#label,
            `internal error: rank ${from} sent a block of ${envelope.bytes} bytes of kind ${envelope.kind}, expected ${expected} bytes of kind ${this.#kind} after the ranks agreed on the layout; please report this.`,
            { rank: from, expectedBytes: expected, receivedBytes: envelope.bytes },
          );
        }
        return bytesOf(into);
      },
      `${this.#label}: block from rank ${from}`,
    );
  }
}

/**
 * acc = x0 ∘ x1 ∘ … ∘ x[size-1] in rank order (the allreduce order, so the same bits): rank r's
 * contribution arrives from r, this rank's is `own`. Blocks are received one at a time, in rank
 * order, into `staging` (n elements, allocated by the caller before agreement so that running out
 * of memory is a precondition failure on every rank), and folded as they arrive. `acc` may be
 * `own` only on rank 0 (elsewhere pass a copy: x0 lands in acc first).
 */
export async function foldInRankOrder(
  mover: BlockMover,
  rank: number,
  size: number,
  own: NumericArray,
  acc: NumericArray,
  op: ReduceOp,
  staging: NumericArray,
): Promise<void> {
  const n = acc.length;
  if (n === 0) return;
  const dtype = dtypeOf(acc) as DType;
  const step = reduceStepFor(dtype, op);
  if (rank === 0) {
    if (!sameBytes(own, acc)) (acc as Float64Array).set(own as Float64Array);
  } else {
    await mover.recv(0, acc);
  }
  for (let r = 1; r < size; r++) {
    if (r === rank) {
      step(acc, own, 0, n);
    } else {
      await mover.recv(r, staging);
      step(acc, staging, 0, n);
    }
  }
}
