/**
 * The personalised and prefix collectives on messages (spec/communicator.md §4.13–4.15):
 * reduceScatter, reduceScatterBlock, alltoall, alltoallv, scan, exscan. Same shape as rooted.ts:
 * call-time checks, then in call order any metadata round, the agreement barrier, the blocks.
 */
import type { DType, NumericArray, ReduceOp } from '../dtypes.js';
import { CommError } from '../errors.js';
import { digestInts, fingerprint, type Fingerprint } from '../fingerprint.js';
import { reduceStepFor } from '../reduce.js';
import {
  allocate,
  changedError,
  checkApartOrSame,
  checkBuffer,
  checkIntArray,
  checkLayout,
  checkOp,
  checkRecv,
  packedDispls,
} from '../validate.js';
import type { AlltoallvOptions } from './api.js';
import { foldInRankOrder, sameBytes, type BlockMover } from './blocks.js';
import { blockLength, checkOptions, checkWithin, MessageCollectiveBase, optionalCounts } from './host.js';

/** What a prefix collective's checks produced. */
interface PrefixCall<T extends NumericArray> {
  dtype: DType;
  out: T;
  /** This rank's contribution as the fold reads it: send, or a copy when recv is send's bytes. */
  own: NumericArray;
  fp: Fingerprint;
}

export class ExchangeOps extends MessageCollectiveBase {
  reduceScatter<T extends NumericArray>(
    send: T,
    counts: ArrayLike<number>,
    op: ReduceOp = 'sum',
    recv?: T,
  ): Promise<T> {
    const operation = 'reduceScatter';
    let list: number[];
    try {
      this.host.checkOpen(operation);
      checkBuffer(operation, 'send', send);
      list = checkIntArray(operation, 'counts', counts, this.size);
      const total = list.reduce((a, b) => a + b, 0);
      if (total !== send.length) {
        throw new CommError(
          'InvalidBufferSize',
          operation,
          `the counts add up to ${total} elements but send has ${send.length}; send holds every rank's block (Σ counts elements).`,
          { argument: 'counts', expected: send.length, received: total },
        );
      }
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    return this.#reduceScatter(operation, send, list, op, recv, digestInts(list));
  }

  reduceScatterBlock<T extends NumericArray>(send: T, op: ReduceOp = 'sum', recv?: T): Promise<T> {
    const operation = 'reduceScatterBlock';
    let k: number;
    try {
      this.host.checkOpen(operation);
      checkBuffer(operation, 'send', send);
      k = blockLength(operation, 'send', send, this.size);
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    return this.#reduceScatter(operation, send, new Array<number>(this.size).fill(k), op, recv, 0);
  }

  /** Every rank sends block j to rank j, and folds the blocks it gets in rank order: allreduce's slice. */
  #reduceScatter<T extends NumericArray>(
    operation: 'reduceScatter' | 'reduceScatterBlock',
    send: T,
    counts: readonly number[],
    op: ReduceOp,
    recv: T | undefined,
    digest: number,
  ): Promise<T> {
    let dtype: DType;
    let out: T;
    let staging: NumericArray;
    const mine = counts[this.rank] as number;
    const displs = packedDispls(counts);
    try {
      dtype = checkBuffer(operation, 'send', send);
      checkOp(operation, op);
      if (recv !== undefined) {
        checkRecv(operation, dtype, recv, mine);
        checkApartOrSame(operation, send, recv);
      }
      out = recv ?? allocate<T>(operation, dtype, mine);
      staging = this.size > 1 ? allocate(operation, dtype, mine) : out;
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const fp = fingerprint(operation, { dtype: dtype.name, count: send.length, op, digest });
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n || out.length !== mine) {
        return this.host.abandon(operation, changedError(operation, { send, recv: out }));
      }
      const mover = await this.agree(operation, fp, dtype);
      const block = (j: number): NumericArray =>
        send.subarray(displs[j] as number, (displs[j] as number) + (counts[j] as number));
      const sends = counts.map((_, j) => (j === this.rank ? undefined : mover.send(j, block(j))));
      // In place (recv is send) the fold receives rank 0's block into `out` first: on a later rank that
      // would overwrite its own block before it is folded, so the fold reads a copy of it.
      let own = block(this.rank);
      if (this.rank !== 0 && sameBytes(own, out)) own = own.slice();
      await Promise.all([...sends, foldInRankOrder(mover, this.rank, this.size, own, out, op, staging)]);
      return out;
    });
  }

  alltoall<T extends NumericArray>(send: T, recv?: T): Promise<T> {
    const operation = 'alltoall';
    let dtype: DType;
    let k: number;
    let out: T;
    let source: NumericArray = send;
    try {
      this.host.checkOpen(operation);
      dtype = checkBuffer(operation, 'send', send);
      k = blockLength(operation, 'send', send, this.size);
      if (recv !== undefined) {
        checkRecv(operation, dtype, recv, send.length);
        checkApartOrSame(operation, send, recv);
      }
      out = recv ?? allocate<T>(operation, dtype, send.length);
      // In place: the blocks still to be sent would be overwritten by the blocks received.
      if (sameBytes(send, out) && this.size > 1) source = allocate(operation, dtype, send.length);
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const fp = fingerprint(operation, { dtype: dtype.name, count: send.length });
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n || out.length !== n) {
        return this.host.abandon(operation, changedError(operation, { send, recv: out }));
      }
      if (source !== send) (source as Float64Array).set(send as Float64Array);
      const mover = await this.agree(operation, fp, dtype);
      const counts = new Array<number>(this.size).fill(k);
      const displs = packedDispls(counts);
      await this.#exchangeBlocks(mover, source, counts, displs, out, counts, displs);
      return out;
    });
  }

  alltoallv<T extends NumericArray>(
    send: T,
    sendCounts: ArrayLike<number>,
    options: AlltoallvOptions<T> = {},
  ): Promise<T> {
    const operation = 'alltoallv';
    let dtype: DType;
    let sc: number[];
    let sd: number[];
    let given: { counts: number[]; displs: number[] | undefined } | undefined;
    try {
      this.host.checkOpen(operation);
      dtype = checkBuffer(operation, 'send', send);
      checkOptions(operation, options, 'sendDispls?, recvCounts?, recvDispls?, recv?');
      sc = checkIntArray(operation, 'sendCounts', sendCounts, this.size);
      sd = optionalCounts(operation, 'sendDispls', options.sendDispls, this.size) ?? packedDispls(sc);
      checkWithin(operation, 'send', sc, sd, send.length);
      const rc = optionalCounts(operation, 'recvCounts', options.recvCounts, this.size);
      if (rc !== undefined) {
        const layout = checkLayout(
          operation,
          this.rank,
          this.size,
          rc[this.rank] as number,
          rc,
          options.recvDispls,
        );
        given = { counts: layout.counts, displs: layout.displs };
      } else if (options.recvDispls !== undefined) {
        throw new CommError(
          'InvalidArgument',
          operation,
          'recvDispls without recvCounts: pass recvCounts too, or omit both to pack blocks in rank order.',
          { argument: 'recvDispls' },
        );
      }
      if (options.recv !== undefined) {
        if (checkBuffer(operation, 'recv', options.recv) !== dtype)
          checkRecv(operation, dtype, options.recv, 0);
        checkApartOrSame(operation, send, options.recv);
        if (sameBytes(send, options.recv) && send.length > 0) {
          throw new CommError(
            'InvalidArgument',
            operation,
            'recv is send (in place), which alltoallv does not support: pass a separate recv, or omit it.',
            { argument: 'recv' },
          );
        }
      }
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n) return this.host.abandon(operation, changedError(operation, { send }));
      // Row i: rank i's sendCounts. Column `rank` is what this rank receives.
      const matrix = await this.exchange(operation, -1, sc);
      const rc = Array.from({ length: this.size }, (_, i) => matrix[i * this.size + this.rank] as number);
      let out: T;
      let rd: number[];
      try {
        given?.counts.forEach((c, i) => {
          if (c !== rc[i]) {
            throw new CommError(
              'InvalidBufferSize',
              operation,
              `recvCounts[${i}] is ${c} but rank ${i} sends ${rc[i]} elements to this rank (its sendCounts[${this.rank}]); pass the senders' counts, or omit recvCounts.`,
              { argument: 'recvCounts', index: i, expected: rc[i], received: c },
            );
          }
        });
        rd = given?.displs ?? packedDispls(rc);
        let extent = 0;
        rc.forEach((c, i) => (extent = Math.max(extent, (rd[i] as number) + c)));
        const recv = options.recv;
        if (recv !== undefined && recv.length < extent) {
          throw new CommError(
            'InvalidBufferSize',
            operation,
            `recv has ${recv.length} elements but the received blocks need at least ${extent}; pass a larger recv, or omit it.`,
            { argument: 'recv', expected: extent, received: recv.length },
          );
        }
        out = recv ?? allocate<T>(operation, dtype, extent);
      } catch (error) {
        return this.host.abandon(operation, error);
      }
      const fp = fingerprint(operation, {
        dtype: dtype.name,
        count: matrix.reduce((a, b) => a + b, 0),
        digest: digestInts(matrix),
      });
      const mover = await this.agree(operation, fp, dtype);
      await this.#exchangeBlocks(mover, send, sc, sd, out, rc, rd);
      return out;
    });
  }

  /** Every send and receive of a personalised exchange at once; this rank's own block is copied. */
  async #exchangeBlocks(
    mover: BlockMover,
    send: NumericArray,
    sc: readonly number[],
    sd: readonly number[],
    out: NumericArray,
    rc: readonly number[],
    rd: readonly number[],
  ): Promise<void> {
    const slice = (a: NumericArray, at: number, count: number): NumericArray => a.subarray(at, at + count);
    const work: Array<Promise<void>> = [];
    for (let j = 0; j < this.size; j++) {
      const outgoing = slice(send, sd[j] as number, sc[j] as number);
      const incoming = slice(out, rd[j] as number, rc[j] as number);
      if (j === this.rank) (incoming as Float64Array).set(outgoing as Float64Array);
      else work.push(mover.send(j, outgoing), mover.recv(j, incoming));
    }
    await Promise.all(work);
  }

  scan<T extends NumericArray>(send: T, op: ReduceOp = 'sum', recv?: T): Promise<T> {
    const operation = 'scan';
    let call: PrefixCall<T>;
    try {
      call = this.#prefixCall(operation, send, op, recv, this.rank > 0);
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const { dtype, out, own, fp } = call;
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n || out.length !== n) {
        return this.host.abandon(operation, changedError(operation, { send, recv: out }));
      }
      if (own !== send) (own as Float64Array).set(send as Float64Array);
      const mover = await this.agree(operation, fp, dtype);
      if (n === 0) return out;
      // The chain: prefix(r) = prefix(r-1) ∘ x_r, a left fold in rank order like allreduce's.
      if (this.rank === 0) {
        if (!sameBytes(send, out)) (out as Float64Array).set(send as Float64Array);
      } else {
        await mover.recv(this.rank - 1, out);
        reduceStepFor(dtype, op)(out, own, 0, n);
      }
      if (this.rank < this.size - 1) await mover.send(this.rank + 1, out);
      return out;
    });
  }

  exscan<T extends NumericArray>(send: T, op: ReduceOp = 'sum', recv?: T): Promise<T> {
    const operation = 'exscan';
    const middle = this.rank > 0 && this.rank < this.size - 1;
    let call: PrefixCall<T>;
    let next: NumericArray | null = null;
    try {
      call = this.#prefixCall(operation, send, op, recv, middle);
      if (middle) next = allocate(operation, call.dtype, send.length);
    } catch (error) {
      return this.host.refuse(operation, error);
    }
    const { dtype, out, own, fp } = call;
    const n = send.length;
    return this.host.schedule(operation, async () => {
      if (send.length !== n || out.length !== n) {
        return this.host.abandon(operation, changedError(operation, { send, recv: out }));
      }
      if (own !== send) (own as Float64Array).set(send as Float64Array);
      const mover = await this.agree(operation, fp, dtype);
      if (n === 0 || this.size === 1) return out;
      // Rank 0 passes x0 and keeps recv as it was; rank r gets prefix(r-1), passes prefix(r).
      if (this.rank === 0) {
        await mover.send(1, send);
        return out;
      }
      await mover.recv(this.rank - 1, out);
      if (next !== null) {
        (next as Float64Array).set(out as Float64Array);
        reduceStepFor(dtype, op)(next, own, 0, n);
        await mover.send(this.rank + 1, next);
      }
      return out;
    });
  }

  /** scan/exscan's checks; `copyOwn`: this rank folds its own x after receiving into recv. */
  #prefixCall<T extends NumericArray>(
    operation: 'scan' | 'exscan',
    send: T,
    op: ReduceOp,
    recv: T | undefined,
    copyOwn: boolean,
  ): PrefixCall<T> {
    this.host.checkOpen(operation);
    const dtype = checkBuffer(operation, 'send', send);
    checkOp(operation, op);
    if (recv !== undefined) {
      checkRecv(operation, dtype, recv, send.length);
      checkApartOrSame(operation, send, recv);
    }
    const out = recv ?? allocate<T>(operation, dtype, send.length);
    // The prefix is received into recv; when that is send's bytes, x_r is read from a copy.
    const own =
      copyOwn && sameBytes(send, out) ? allocate<NumericArray>(operation, dtype, send.length) : send;
    return { dtype, out, own, fp: fingerprint(operation, { dtype: dtype.name, count: send.length, op }) };
  }
}
