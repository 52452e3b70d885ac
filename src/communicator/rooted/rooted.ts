/**
 * The rooted collectives on messages (spec/communicator.md §4.10–4.12): reduce, gather, gatherv,
 * scatter, scatterv. Each call: checks at call time (a failure rejects on every rank, §6.2), then in
 * call order any metadata round (counts), the agreement barrier with the full fingerprint, and the
 * blocks over the message layer (blocks.ts).
 */
import {
  dtypeByCtor,
  type DType,
  type NumericArray,
  type NumericArrayConstructor,
  type ReduceOp,
} from '../dtypes.js';
import { CommError } from '../errors.js';
import { digestInts, fingerprint, type Fingerprint } from '../fingerprint.js';
import {
  allocate,
  changedError,
  checkApartOrSame,
  checkBuffer,
  checkLayout,
  checkOp,
  checkRecv,
  checkRoot,
  packedDispls,
} from '../validate.js';
import type { GathervOptions, ScattervOptions } from './api.js';
import { foldInRankOrder, sameBytes, type BlockMover } from './blocks.js';
import { blockLength, checkOptions, checkWithin, MessageCollectiveBase, optionalCounts } from './host.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** True when `part` is exactly elements [start, start + part.length) of `whole` (MPI's in place at the root). */
function isBlockOf(part: NumericArray, whole: NumericArray, start: number): boolean {
  return (
    part.length > 0 &&
    part.buffer === whole.buffer &&
    part.byteOffset === whole.byteOffset + start * whole.BYTES_PER_ELEMENT &&
    start + part.length <= whole.length
  );
}

/** recv at the root: apart from send, or send exactly its own block of it. */
function checkRootBlock(operation: string, send: NumericArray, recv: NumericArray, start: number): void {
  if (!isBlockOf(send, recv, start)) checkApartOrSame(operation, send, recv);
}

/** The dtype a recv argument names: a typed array's, or a constructor's. */
function recvDtype(operation: string, recv: unknown): DType {
  if (typeof recv !== 'function') return checkBuffer(operation, 'recv', recv);
  const dtype = dtypeByCtor(recv);
  if (!dtype) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `recv must be a numeric typed array or a numeric typed array constructor (e.g. Float64Array), got the function ${(recv as { name?: string }).name ?? '(anonymous)'}.`,
      { argument: 'recv' },
    );
  }
  return dtype;
}

/** The root's send of a scatter: present, and of recv's dtype. */
function rootSend(operation: string, send: unknown, dtype: DType): NumericArray {
  if (send === null || send === undefined) {
    throw new CommError(
      'InvalidArgument',
      operation,
      'the root must pass send (the array to scatter); only the other ranks may pass null.',
      { argument: 'send' },
    );
  }
  const sendDtype = checkBuffer(operation, 'send', send);
  if (sendDtype !== dtype) {
    throw new CommError(
      'InvalidArgument',
      operation,
      `send is a ${sendDtype.ctor.name} but recv is a ${dtype.ctor.name}; pass the same element type.`,
      { argument: 'recv', expected: sendDtype.name, received: dtype.name },
    );
  }
  return send as NumericArray;
}

function wrongLength(operation: string, length: number, expected: number, why: string): CommError {
  return new CommError(
    'InvalidBufferSize',
    operation,
    `recv has ${length} elements but ${why} ${expected}; pass a recv of ${expected} elements or a constructor (e.g. Float64Array).`,
    { argument: 'recv', expected, received: length },
  );
}

export class RootedOps extends MessageCollectiveBase {
  reduce<T extends NumericArray>(send: T, op: ReduceOp = 'sum', root = 0, recv?: T): Promise<T | null> {
    const operation = 'reduce';
    let dtype: DType;
    let fp: Fingerprint;
    let out: T | null = null;
    let own: NumericArray = send;
    let staging: NumericArray | null = null;
    try {
      this.host.checkOpen(operation);
      dtype = checkBuffer(operation, 'send', send);
      checkOp(operation, op);
      checkRoot(operation, root, this.size);
      if (this.rank === root) {
        if (recv !== undefined) {
          checkRecv(operation, dtype, recv, send.length);
          checkApartOrSame(operation, send, recv);
        }
        out = recv ?? allocate<T>(operation, dtype, send.length);
        // Rank 0's block lands in out first: an in-place root other than 0 keeps its own apart.
        if (this.rank !== 0 && sameBytes(send, out)) own = allocate(operation, dtype, send.length);
        if (this.size > 1) staging = allocate(operation, dtype, send.length);
      }
      fp = fingerprint(operation, { dtype: dtype.name, count: send.length, op, root });
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n || (out !== null && out.length !== n)) {
        return this.host.abandon(operation, changedError(operation, out ? { send, recv: out } : { send }));
      }
      if (own !== send) (own as Float64Array).set(send as Float64Array);
      const mover = await this.agree(operation, fp, dtype);
      if (out === null) {
        await mover.send(root, send);
        return null;
      }
      await foldInRankOrder(mover, this.rank, this.size, own, out, op, staging ?? out);
      return out;
    });
  }

  gather<T extends NumericArray>(send: T, root = 0, recv?: T): Promise<T | null> {
    const operation = 'gather';
    let dtype: DType;
    let fp: Fingerprint;
    let out: T | null = null;
    const k = send?.length;
    try {
      this.host.checkOpen(operation);
      dtype = checkBuffer(operation, 'send', send);
      checkRoot(operation, root, this.size);
      if (this.rank === root) {
        if (recv !== undefined) {
          checkRecv(operation, dtype, recv, this.size * k);
          checkRootBlock(operation, send, recv, root * k);
        }
        out = recv ?? allocate<T>(operation, dtype, this.size * k);
      }
      fp = fingerprint(operation, { dtype: dtype.name, count: k, root });
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    return this.host.schedule(operation, async () => {
      if (send.length !== k || (out !== null && out.length !== this.size * k)) {
        return this.host.abandon(operation, changedError(operation, out ? { send, recv: out } : { send }));
      }
      const mover = await this.agree(operation, fp, dtype);
      if (out === null) {
        await mover.send(root, send);
        return null;
      }
      const into = out;
      await Promise.all(
        Array.from({ length: this.size }, (_, r) => {
          const block = into.subarray(r * k, (r + 1) * k);
          if (r !== root) return mover.recv(r, block);
          if (!sameBytes(send, block)) (block as Float64Array).set(send as Float64Array);
          return undefined;
        }),
      );
      return out;
    });
  }

  gatherv<T extends NumericArray>(send: T, root = 0, options: GathervOptions<T> = {}): Promise<T | null> {
    const operation = 'gatherv';
    let dtype: DType;
    let given: { counts: number[]; displs: number[] | undefined } | undefined;
    try {
      this.host.checkOpen(operation);
      dtype = checkBuffer(operation, 'send', send);
      checkRoot(operation, root, this.size);
      checkOptions(operation, options, 'counts?, displs?, recv?');
      const atRoot = this.rank === root;
      if (options.counts !== undefined) {
        const displs = atRoot ? options.displs : undefined;
        const layout = checkLayout(operation, this.rank, this.size, send.length, options.counts, displs);
        given = { counts: layout.counts, displs: displs === undefined ? undefined : layout.displs };
      } else if (options.displs !== undefined) {
        throw new CommError(
          'InvalidArgument',
          operation,
          'displs without counts: pass counts too, or omit both to pack blocks in rank order.',
          { argument: 'displs' },
        );
      }
      if (atRoot && options.recv !== undefined) {
        if (checkBuffer(operation, 'recv', options.recv) !== dtype)
          checkRecv(operation, dtype, options.recv, 0);
        const start = given?.displs?.[root] ?? (given ? packedDispls(given.counts)[root] : undefined);
        if (start === undefined) checkApartOrSame(operation, send, options.recv);
        else checkRootBlock(operation, send, options.recv, start as number);
      }
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n) return this.host.abandon(operation, changedError(operation, { send }));
      // The senders' counts, always: the root may hold the only layout (MPI's usage).
      const counts = await this.exchange(operation, root, [n]);
      // Given counts are compared through the digest: wrong ones are a mismatch on every rank.
      const fp = fingerprint(operation, {
        dtype: dtype.name,
        count: sum(counts),
        root,
        digest: digestInts(given?.counts ?? counts),
      });
      if (this.rank !== root) {
        const mover = await this.agree(operation, fp, dtype);
        await mover.send(root, send);
        return null;
      }
      const displs = given?.displs ?? packedDispls(counts);
      let extent = 0;
      counts.forEach((c, r) => (extent = Math.max(extent, (displs[r] as number) + c)));
      let out: T;
      try {
        const recv = options.recv;
        if (recv !== undefined && recv.length < extent) {
          throw wrongLength(operation, recv.length, extent, 'the gathered blocks need at least');
        }
        out = recv ?? allocate<T>(operation, dtype, extent);
      } catch (error) {
        return this.host.abandon(operation, error);
      }
      const mover = await this.agree(operation, fp, dtype);
      await Promise.all(
        counts.map((c, r) => {
          const block = out.subarray(displs[r] as number, (displs[r] as number) + c);
          if (r !== root) return mover.recv(r, block);
          if (!sameBytes(send, block)) (block as Float64Array).set(send as Float64Array);
          return undefined;
        }),
      );
      return out;
    });
  }

  scatter<T extends NumericArray>(
    send: T | null,
    recv: T | NumericArrayConstructor<T>,
    root = 0,
  ): Promise<T> {
    const operation = 'scatter';
    let dtype: DType;
    let k = 0;
    let out: T | null = null;
    try {
      this.host.checkOpen(operation);
      dtype = recvDtype(operation, recv);
      checkRoot(operation, root, this.size);
      if (this.rank === root) {
        const all = rootSend(operation, send, dtype);
        k = blockLength(operation, 'send', all, this.size);
        if (typeof recv !== 'function') {
          checkRecv(operation, dtype, recv, k);
          checkRootBlock(operation, recv, all, root * k);
        }
        out = typeof recv === 'function' ? allocate<T>(operation, dtype, k) : recv;
      }
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const total = this.rank === root ? (send as T).length : 0;
    return this.host.schedule(operation, async () => {
      if (this.rank === root && (send as T).length !== total) {
        return this.host.abandon(operation, changedError(operation, { send: send as T }));
      }
      const [block] = await this.fromRoot(operation, root, Float64Array.of(k));
      k = block as number;
      if (out === null) {
        try {
          if (typeof recv !== 'function' && recv.length !== k) {
            throw wrongLength(operation, recv.length, k, `root ${root} scatters blocks of`);
          }
          out = typeof recv === 'function' ? allocate<T>(operation, dtype, k) : recv;
        } catch (error) {
          return this.host.abandon(operation, error);
        }
      }
      const mover = await this.agree(
        operation,
        fingerprint(operation, { dtype: dtype.name, count: k, root }),
        dtype,
      );
      return this.#deliver(
        mover,
        send,
        out,
        root,
        new Array<number>(this.size).fill(k),
        packedDispls(new Array<number>(this.size).fill(k)),
      );
    });
  }

  scatterv<T extends NumericArray>(
    send: T | null,
    recv: T | NumericArrayConstructor<T>,
    root = 0,
    options: ScattervOptions = {},
  ): Promise<T> {
    const operation = 'scatterv';
    let dtype: DType;
    let given: number[] | undefined;
    let displs: number[] = [];
    let out: T | null = null;
    try {
      this.host.checkOpen(operation);
      dtype = recvDtype(operation, recv);
      checkRoot(operation, root, this.size);
      checkOptions(operation, options, 'counts?, displs?');
      given = optionalCounts(operation, 'counts', options.counts, this.size);
      if (this.rank === root) {
        const all = rootSend(operation, send, dtype);
        if (given === undefined) {
          throw new CommError(
            'InvalidArgument',
            operation,
            'the root must pass options.counts (elements for each rank); the other ranks may omit them.',
            { argument: 'counts' },
          );
        }
        displs = optionalCounts(operation, 'displs', options.displs, this.size) ?? packedDispls(given);
        checkWithin(operation, 'send', given, displs, all.length);
        const mine = given[root] as number;
        if (typeof recv !== 'function') {
          checkRecv(operation, dtype, recv, mine);
          checkRootBlock(operation, recv, all, displs[root] as number);
        }
        out = typeof recv === 'function' ? allocate<T>(operation, dtype, mine) : recv;
      }
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const total = this.rank === root ? (send as T).length : 0;
    return this.host.schedule(operation, async () => {
      if (this.rank === root && (send as T).length !== total) {
        return this.host.abandon(operation, changedError(operation, { send: send as T }));
      }
      const counts = await this.fromRoot(
        operation,
        root,
        given === undefined ? new Float64Array(this.size) : Float64Array.from(given),
      );
      const mine = counts[this.rank] as number;
      if (out === null) {
        try {
          if (typeof recv !== 'function' && recv.length !== mine) {
            throw wrongLength(operation, recv.length, mine, `root ${root}'s counts[${this.rank}] is`);
          }
          out = typeof recv === 'function' ? allocate<T>(operation, dtype, mine) : recv;
        } catch (error) {
          return this.host.abandon(operation, error);
        }
      }
      const fp = fingerprint(operation, {
        dtype: dtype.name,
        count: sum(counts),
        root,
        digest: digestInts(given ?? counts),
      });
      const mover = await this.agree(operation, fp, dtype);
      return this.#deliver(mover, send, out, root, counts, displs);
    });
  }

  /** The data of a scatter: the root sends every block (its own is copied), the others receive theirs. */
  async #deliver<T extends NumericArray>(
    mover: BlockMover,
    send: T | null,
    out: T,
    root: number,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<T> {
    if (this.rank !== root) {
      await mover.recv(root, out);
      return out;
    }
    const all = send as T;
    await Promise.all(
      counts.map((c, r) => {
        const block = all.subarray(displs[r] as number, (displs[r] as number) + c);
        if (r !== root) return mover.send(r, block);
        if (!sameBytes(block, out)) (out as Float64Array).set(block as Float64Array);
        return undefined;
      }),
    );
    return out;
  }
}
