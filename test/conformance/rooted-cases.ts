/**
 * Conformance family: the collectives on messages (spec/communicator.md §4.10–4.15) — results
 * against the rank-order reference and against allreduce bit for bit, every family × several dtypes
 * × counts 0, 1 and odd × roots 0 and size-1. Agreement (mismatches, bad arguments on one rank) is
 * in rooted-error-cases.ts. Cheap cases: many checks inside one case. Registered in all-cases.ts.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../src/communicator/communicator.js';
import {
  DTYPES,
  REDUCE_OPS,
  type DType,
  type DTypeName,
  type NumericArray,
} from '../../src/communicator/dtypes.js';
import { referenceReduce } from '../support/reference.js';
import { assertBits, type ConformanceCase } from './cases.js';
import { input } from './inputs.js';

const byName = (name: DTypeName): DType => DTYPES.find((d) => d.name === name) as DType;
/** float64 (order-sensitive values), int32 (wraps), bigint64, uint8clamped (clamps). */
export const ROOTED_DTYPES: readonly DType[] = ['float64', 'int32', 'bigint64', 'uint8clamped'].map((n) =>
  byName(n as DTypeName),
);
const COUNTS = [0, 1, 37];

/**
 * Rank r's contribution. float64 mixes magnitudes (±1e16 against small values) so that any fold
 * order other than rank order gives other bits; the other dtypes use the shared inputs.
 */
export function part(dtype: DType, rank: number, n: number, salt = 0): NumericArray {
  if (dtype.name !== 'float64') return input(dtype, rank, n, salt);
  const out = new Float64Array(n);
  const scale = [1e16, 1.25 + salt, -1e16, 3.0000000001][rank % 4] as number;
  for (let i = 0; i < n; i++) out[i] = scale * (1 + i / 7) + rank / 10 + (i % 5 === 0 ? 0.3 : 0);
  return out;
}

export function reference(
  dtype: DType,
  op: (typeof REDUCE_OPS)[number],
  parts: NumericArray[],
): NumericArray {
  const out = new dtype.ctor(parts[0]?.length ?? 0);
  referenceReduce(dtype.name, op, parts, out);
  return out;
}

export function concat(dtype: DType, blocks: readonly NumericArray[]): NumericArray {
  const out = new dtype.ctor(blocks.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    (out as Float64Array).set(b as Float64Array, at);
    at += b.length;
  }
  return out;
}

const rootsOf = (comm: Communicator): number[] => [...new Set([0, comm.size - 1])];
const ranks = (comm: Communicator): number[] => Array.from({ length: comm.size }, (_, r) => r);

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => void cases.push(c);

add({
  name: 'rooted: reduce equals allreduce bit for bit (every op × dtypes × counts 0, 1, 37 × roots 0, last)',
  async run(comm) {
    for (const dtype of ROOTED_DTYPES) {
      for (const n of COUNTS) {
        for (const op of n === 0 ? (['sum'] as const) : REDUCE_OPS) {
          const parts = ranks(comm).map((r) => part(dtype, r, n));
          const all = await comm.allreduce(parts[comm.rank] as NumericArray, op);
          assertBits(all, reference(dtype, op, parts), `allreduce ${dtype.name} ${op} n=${n}`);
          for (const root of rootsOf(comm)) {
            const what = `reduce ${dtype.name} ${op} n=${n} root=${root}`;
            const got = await comm.reduce(parts[comm.rank] as NumericArray, op, root);
            if (comm.rank === root) assertBits(got as NumericArray, all, what);
            else assert.equal(got, null, `${what}: null off the root`);
          }
        }
      }
    }
    // In place at the root (not rank 0 when size > 1) and into a caller recv.
    const root = comm.size - 1;
    const parts = ranks(comm).map((r) => part(byName('float64'), r, 9));
    const expected = reference(byName('float64'), 'sum', parts);
    const buf = (parts[comm.rank] as Float64Array).slice();
    const got = await comm.reduce(buf, 'sum', root, buf);
    if (comm.rank === root) {
      assert.equal(got, buf);
      assertBits(buf, expected, 'reduce in place');
    } else assertBits(buf, parts[comm.rank] as NumericArray, 'non-root send unchanged');
    const recv = new Float64Array(9);
    const into = await comm.reduce(parts[comm.rank] as Float64Array, 'sum', 0, recv);
    if (comm.rank === 0) {
      assert.equal(into, recv);
      assertBits(recv, expected, 'reduce into recv');
    }
  },
});

add({
  name: 'rooted: gather and gatherv (packed, counts only at the root, displs with gaps, in place)',
  async run(comm) {
    for (const dtype of ROOTED_DTYPES) {
      for (const n of COUNTS) {
        const blocks = ranks(comm).map((r) => input(dtype, r, n, 11));
        for (const root of rootsOf(comm)) {
          const what = `gather ${dtype.name} n=${n} root=${root}`;
          const got = await comm.gather(blocks[comm.rank] as NumericArray, root);
          if (comm.rank === root) assertBits(got as NumericArray, concat(dtype, blocks), what);
          else assert.equal(got, null, what);
        }
      }
      // gatherv: rank r sends (2r + 1) % 4 elements (some ranks none).
      const counts = ranks(comm).map((r) => (2 * r + 1) % 4);
      const blocks = ranks(comm).map((r) => input(dtype, r, counts[r] as number, 13));
      const mine = blocks[comm.rank] as NumericArray;
      for (const root of rootsOf(comm)) {
        const what = `gatherv ${dtype.name} root=${root}`;
        const packed = await comm.gatherv(mine, root);
        if (comm.rank === root) assertBits(packed as NumericArray, concat(dtype, blocks), `${what} packed`);
        else assert.equal(packed, null);
        // MPI's usage: only the root passes the layout; blocks in reverse rank order with gaps.
        const displs: number[] = [];
        let at = 1;
        for (let r = comm.size - 1; r >= 0; r--) {
          displs[r] = at;
          at += (counts[r] as number) + 1;
        }
        const recv = new dtype.ctor(at + 2).fill((dtype.bigint ? 7n : 7) as never);
        const options = comm.rank === root ? { counts, displs, recv } : {};
        await comm.gatherv(mine, root, options);
        if (comm.rank === root) {
          const expected = new dtype.ctor(at + 2).fill((dtype.bigint ? 7n : 7) as never);
          blocks.forEach((b, r) => (expected as Float64Array).set(b as Float64Array, displs[r]));
          assertBits(recv, expected, `${what} displs with gaps`);
        }
        // Every rank passes counts (the same, true ones).
        const given = await comm.gatherv(mine, root, { counts });
        if (comm.rank === root)
          assertBits(given as NumericArray, concat(dtype, blocks), `${what} counts everywhere`);
      }
    }
    // In place at the root: its send is its own block of recv.
    const root = comm.size - 1;
    const recv = new Int32Array(3 * comm.size);
    const send = comm.rank === root ? recv.subarray(3 * root, 3 * root + 3) : new Int32Array(3);
    send.set([comm.rank, comm.rank + 1, comm.rank + 2]);
    const got = await comm.gather(send, root, comm.rank === root ? recv : undefined);
    if (comm.rank === root) {
      assert.equal(got, recv);
      assert.deepEqual(
        Array.from(recv),
        ranks(comm).flatMap((r) => [r, r + 1, r + 2]),
      );
    }
  },
});

add({
  name: 'rooted: scatter and scatterv (constructor or buffer recv, counts only at the root)',
  async run(comm) {
    for (const dtype of ROOTED_DTYPES) {
      for (const n of COUNTS) {
        const all = input(dtype, 99, comm.size * n, 5);
        for (const root of rootsOf(comm)) {
          const what = `scatter ${dtype.name} n=${n} root=${root}`;
          const send = comm.rank === root ? all : null;
          const got = await comm.scatter(send, dtype.ctor, root);
          assertBits(got, all.subarray(comm.rank * n, (comm.rank + 1) * n), what);
          const recv = new dtype.ctor(n);
          assert.equal(await comm.scatter(send, recv, root), recv);
          assertBits(recv, got, `${what} into recv`);
        }
      }
      const counts = ranks(comm).map((r) => (r + 2) % 3);
      const displs: number[] = [];
      let at = 0;
      for (let r = comm.size - 1; r >= 0; r--) {
        displs[r] = at;
        at += (counts[r] as number) + 1;
      }
      const all = input(dtype, 77, at, 9);
      const expected = all.subarray(
        displs[comm.rank],
        (displs[comm.rank] as number) + (counts[comm.rank] as number),
      );
      for (const root of rootsOf(comm)) {
        const what = `scatterv ${dtype.name} root=${root}`;
        const isRoot = comm.rank === root;
        const got = await comm.scatterv(
          isRoot ? all : null,
          dtype.ctor,
          root,
          isRoot ? { counts, displs } : {},
        );
        assertBits(got, expected, what);
        const recv = new dtype.ctor(counts[comm.rank] as number);
        await comm.scatterv(isRoot ? all : null, recv, root, isRoot ? { counts, displs } : { counts });
        assertBits(recv, expected, `${what} counts everywhere, buffer recv`);
      }
    }
  },
});

add({
  name: 'rooted: reduceScatter and reduceScatterBlock equal allreduce slices bit for bit',
  async run(comm) {
    for (const dtype of ROOTED_DTYPES) {
      for (const op of REDUCE_OPS) {
        const counts = ranks(comm).map((r) => (3 * r + 1) % 5);
        const total = counts.reduce((a, b) => a + b, 0);
        const parts = ranks(comm).map((r) => part(dtype, r, total, 2));
        const full = await comm.allreduce(parts[comm.rank] as NumericArray, op);
        assertBits(full, reference(dtype, op, parts), `allreduce ${dtype.name} ${op}`);
        const start = counts.slice(0, comm.rank).reduce((a, b) => a + b, 0);
        const got = await comm.reduceScatter(parts[comm.rank] as NumericArray, counts, op);
        assertBits(
          got,
          full.subarray(start, start + (counts[comm.rank] as number)),
          `reduceScatter ${dtype.name} ${op}`,
        );
        // Equal blocks: every count for two ops (one that rounds, one that selects), one odd count for the others.
        for (const k of op === 'sum' || op === 'min' ? COUNTS : [5]) {
          const blockParts = ranks(comm).map((r) => part(dtype, r, k * comm.size, 4));
          const whole = await comm.allreduce(blockParts[comm.rank] as NumericArray, op);
          const recv = new dtype.ctor(k);
          assert.equal(await comm.reduceScatterBlock(blockParts[comm.rank] as NumericArray, op, recv), recv);
          assertBits(
            recv,
            whole.subarray(comm.rank * k, (comm.rank + 1) * k),
            `reduceScatterBlock ${dtype.name} ${op} k=${k}`,
          );
        }
      }
    }
  },
});

add({
  name: 'rooted: reduceScatter in place (recv is send) on the one rank that gets every element, at each position',
  async run(comm) {
    const dtype = byName('float64');
    for (const owner of ranks(comm)) {
      const n = 7;
      const counts = ranks(comm).map((r) => (r === owner ? n : 0));
      const parts = ranks(comm).map((r) => part(dtype, r, n, 2));
      const full = await comm.allreduce(parts[comm.rank] as NumericArray, 'sum');
      const send = (parts[comm.rank] as NumericArray).slice();
      const got = await comm.reduceScatter(send, counts, 'sum', comm.rank === owner ? send : undefined);
      if (comm.rank === owner) {
        assert.equal(got, send);
        assertBits(got, full, `in-place reduceScatter owned by rank ${owner}`);
      }
    }
  },
});

add({
  name: 'rooted: alltoall (also in place) and alltoallv (recvCounts learnt or given, displs with gaps)',
  async run(comm) {
    const size = comm.size;
    for (const dtype of ROOTED_DTYPES) {
      for (const k of COUNTS) {
        const sends = ranks(comm).map((r) => input(dtype, r, size * k, 21));
        const expected = concat(
          dtype,
          ranks(comm).map((i) => (sends[i] as NumericArray).subarray(comm.rank * k, (comm.rank + 1) * k)),
        );
        const got = await comm.alltoall(sends[comm.rank] as NumericArray);
        assertBits(got, expected, `alltoall ${dtype.name} k=${k}`);
        const buf = (sends[comm.rank] as NumericArray).slice();
        assert.equal(await comm.alltoall(buf, buf), buf);
        assertBits(buf, expected, `alltoall in place ${dtype.name} k=${k}`);
      }
      // Rank i sends (i + 2j) % 4 elements to rank j.
      const countsOf = (i: number): number[] => ranks(comm).map((j) => (i + 2 * j) % 4);
      const sendOf = (i: number): NumericArray =>
        input(
          dtype,
          i,
          countsOf(i).reduce((a, b) => a + b, 0),
          31,
        );
      const blockFrom = (i: number): NumericArray => {
        const c = countsOf(i);
        const at = c.slice(0, comm.rank).reduce((a, b) => a + b, 0);
        return sendOf(i).subarray(at, at + (c[comm.rank] as number));
      };
      const got = await comm.alltoallv(sendOf(comm.rank), countsOf(comm.rank));
      assertBits(got, concat(dtype, ranks(comm).map(blockFrom)), `alltoallv ${dtype.name} packed`);
      const recvCounts = ranks(comm).map((i) => countsOf(i)[comm.rank] as number);
      const recvDispls: number[] = [];
      let at = 2;
      for (let i = size - 1; i >= 0; i--) {
        recvDispls[i] = at;
        at += (recvCounts[i] as number) + 1;
      }
      const fill = (dtype.bigint ? 5n : 5) as never;
      const recv = new dtype.ctor(at).fill(fill);
      await comm.alltoallv(sendOf(comm.rank), countsOf(comm.rank), { recvCounts, recvDispls, recv });
      const expected = new dtype.ctor(at).fill(fill);
      ranks(comm).forEach((i) => (expected as Float64Array).set(blockFrom(i) as Float64Array, recvDispls[i]));
      assertBits(recv, expected, `alltoallv ${dtype.name} recvCounts and displs given`);
    }
  },
});

add({
  name: 'rooted: scan and exscan are left folds in rank order; the last rank’s scan equals allreduce',
  async run(comm) {
    for (const dtype of ROOTED_DTYPES) {
      for (const n of COUNTS) {
        for (const op of n === 0 ? (['sum'] as const) : REDUCE_OPS) {
          const what = `${dtype.name} ${op} n=${n}`;
          const parts = ranks(comm).map((r) => part(dtype, r, n, 6));
          const mine = parts[comm.rank] as NumericArray;
          const got = await comm.scan(mine, op);
          assertBits(got, reference(dtype, op, parts.slice(0, comm.rank + 1)), `scan ${what}`);
          const all = await comm.allreduce(mine, op);
          if (comm.rank === comm.size - 1) assertBits(got, all, `scan ${what} = allreduce`);
          const fill = (dtype.bigint ? 3n : 3) as never;
          const recv = new dtype.ctor(n).fill(fill);
          assert.equal(await comm.exscan(mine, op, recv), recv);
          if (comm.rank === 0)
            assertBits(recv, new dtype.ctor(n).fill(fill), `exscan ${what}: rank 0 recv unchanged`);
          else assertBits(recv, reference(dtype, op, parts.slice(0, comm.rank)), `exscan ${what}`);
        }
      }
    }
    // Defaults and in place.
    const x = Float64Array.of(comm.rank + 1, 0.1 * comm.rank);
    const zeros = await comm.exscan(x);
    if (comm.rank === 0)
      assert.deepEqual(Array.from(zeros), [0, 0], 'exscan rank 0: a new zero-filled array');
    const parts = ranks(comm).map((r) => Float64Array.of(r + 1, 0.1 * r));
    const buf = x.slice();
    assert.equal(await comm.scan(buf, 'sum', buf), buf);
    assertBits(buf, reference(byName('float64'), 'sum', parts.slice(0, comm.rank + 1)), 'scan in place');
    const ex = x.slice();
    await comm.exscan(ex, 'sum', ex);
    if (comm.rank > 0)
      assertBits(ex, reference(byName('float64'), 'sum', parts.slice(0, comm.rank)), 'exscan in place');
    else assertBits(ex, x, 'exscan in place on rank 0: unchanged');
  },
});

add({
  name: 'rooted: back-to-back different collectives without awaiting, interleaved with allreduce and barrier',
  async run(comm) {
    const size = comm.size;
    const last = size - 1;
    const f = (r: number): Float64Array => Float64Array.of(r + 0.5, -r);
    const parts = ranks(comm).map(f);
    const sum = reference(byName('float64'), 'sum', parts);
    const all = Float64Array.from({ length: 2 * size }, (_, i) => i * 1.5);
    const calls = [
      comm.reduce(f(comm.rank), 'sum', last),
      comm.gather(f(comm.rank), 0),
      comm.allreduce(f(comm.rank)),
      comm.scan(f(comm.rank)),
      comm.scatter(comm.rank === last ? all : null, Float64Array, last),
      comm.barrier(),
      comm.alltoall(Int32Array.from({ length: size }, (_, j) => 100 * comm.rank + j)),
      comm.exscan(f(comm.rank)),
      comm.reduceScatterBlock(new Float64Array(size).fill(comm.rank + 1)),
      comm.gatherv(new Float64Array(comm.rank).fill(comm.rank), last),
    ] as const;
    const [reduced, gathered, allreduced, scanned, scattered, , exchanged, exscanned, block, gv] =
      await Promise.all(calls);
    if (comm.rank === last) assertBits(reduced as NumericArray, sum, 'reduce');
    if (comm.rank === 0) assertBits(gathered as NumericArray, concat(byName('float64'), parts), 'gather');
    assertBits(allreduced, sum, 'allreduce');
    assertBits(scanned, reference(byName('float64'), 'sum', parts.slice(0, comm.rank + 1)), 'scan');
    assertBits(scattered, all.subarray(2 * comm.rank, 2 * comm.rank + 2), 'scatter');
    assert.deepEqual(
      Array.from(exchanged),
      ranks(comm).map((i) => 100 * i + comm.rank),
      'alltoall',
    );
    if (comm.rank > 0)
      assertBits(exscanned, reference(byName('float64'), 'sum', parts.slice(0, comm.rank)), 'exscan');
    assert.deepEqual(Array.from(block), [(size * (size + 1)) / 2], 'reduceScatterBlock');
    if (comm.rank === last) {
      assert.deepEqual(
        Array.from(gv as Float64Array),
        ranks(comm).flatMap((r) => new Array<number>(r).fill(r)),
        'gatherv',
      );
    }
  },
});

export const ROOTED_CASES: readonly ConformanceCase[] = cases;
