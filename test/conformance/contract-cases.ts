/**
 * Conformance family: the contract under ordinary use (issue 11) — metadata that travels whatever the
 * user's dtype, bookkeeping that stays in step after a rejected call, aliased and detached buffers,
 * values the object family cannot carry. Registered in all-cases.ts.
 */
import assert from 'node:assert/strict';
import { DTYPES, type DType, type DTypeName, type NumericArray } from '../../src/communicator/dtypes.js';
import { assertBits, type ConformanceCase } from './cases.js';
import { input } from './inputs.js';

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => void cases.push(c);

// ---- metadata travels independently of the user's dtype (item 1) ----------------------------
/**
 * Rank 0's element count per dtype: beyond what one element of that dtype can hold (or, for the
 * 32-bit integers, as far as memory allows), so counts carried in the user's dtype would wrap,
 * clamp or fail. Rank r sends COUNT + 44·r elements.
 */
const BEYOND_RANGE: Record<DTypeName, number> = {
  float64: 1_000,
  float32: 1_000, // beyond 2^24: the case below
  int32: 1_000,
  uint32: 1_000,
  int16: 40_000,
  uint16: 70_000,
  int8: 200,
  uint8: 256,
  uint8clamped: 300,
  bigint64: 3,
  biguint64: 3,
};
const COUNT_STEP = 44;

function gathered(dtype: DType, counts: readonly number[], salt: number): NumericArray {
  const total = counts.reduce((a, b) => a + b, 0);
  const out = new dtype.ctor(total);
  let at = 0;
  for (let r = 0; r < counts.length; r++) {
    (out as Float64Array).set(input(dtype, r, counts[r] as number, salt) as Float64Array, at);
    at += counts[r] as number;
  }
  return out;
}

add({
  name: 'allgatherv: counts omitted, every dtype, counts beyond the dtype’s range',
  async run(comm) {
    for (const dtype of DTYPES) {
      const counts = Array.from({ length: comm.size }, (_, r) => BEYOND_RANGE[dtype.name] + COUNT_STEP * r);
      const send = input(dtype, comm.rank, counts[comm.rank] as number, 5);
      const got = await comm.allgatherv(send);
      assert.equal(
        got.length,
        counts.reduce((a, b) => a + b, 0),
        `${dtype.name}: gathered length`,
      );
      assertBits(got, gathered(dtype, counts, 5), `${dtype.name} counts ${counts.join(',')}`);
      // The same counts exchanged into a caller recv.
      const recv = new dtype.ctor(got.length);
      assert.equal(await comm.allgatherv(send, { recv }), recv);
      assertBits(recv, got, `${dtype.name} into recv`);
    }
  },
});

/** 2^24 + 1: the first count a float32 cannot hold. */
const FLOAT32_EXACT_LIMIT = 2 ** 24;
add({
  name: 'allgatherv: counts omitted, float32 with more than 2^24 elements per rank',
  // 64 MiB per rank and the gathered size × that per rank: kept to small worlds.
  maxSize: 3,
  async run(comm) {
    const counts = Array.from({ length: comm.size }, (_, r) => FLOAT32_EXACT_LIMIT + 1 + r);
    const send = new Float32Array(counts[comm.rank] as number).fill(comm.rank + 1);
    const got = await comm.allgatherv(send);
    assert.equal(
      got.length,
      counts.reduce((a, b) => a + b, 0),
      'gathered length',
    );
    let at = 0;
    for (let r = 0; r < comm.size; r++) {
      const n = counts[r] as number;
      for (const i of [at, at + 1, at + n - 2, at + n - 1]) assert.equal(got[i], r + 1, `element ${i}`);
      at += n;
    }
  },
});

add({
  name: 'allgather and bcast: byte lengths beyond 2^8 and 2^16 arrive whole',
  async run(comm) {
    for (const length of [255, 256, 300, 65_536, 65_537]) {
      const all = await comm.allgather('y'.repeat(length + comm.rank));
      assert.deepEqual(
        all.map((s) => s.length),
        Array.from({ length: comm.size }, (_, r) => length + r),
      );
      const got = await comm.bcast(comm.rank === 0 ? 'z'.repeat(length) : null);
      assert.equal(got?.length, length);
    }
  },
});

export const CONTRACT_CASES: readonly ConformanceCase[] = cases;
