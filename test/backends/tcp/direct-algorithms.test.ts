/**
 * The direct algorithms over tcp (spec/backend-tcp.md §13): allreduce (reduce-scatter + allgather),
 * allgatherv (direct exchange) and broadcast (scatter + allgather) give the star's bits at every
 * size, dtype, op and count, in place and not; each rank posts exactly the bytes §13 states on its
 * pair channel (so the direct path ran: the star posts none); disagreement is CollectiveMismatch on
 * every rank with recv untouched. Groups are real sockets on 127.0.0.1 (formGroup); the failure of a
 * rank mid-call is in direct-processes.test.ts (separate processes).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { DTYPES, REDUCE_OPS, type DType, type NumericArray } from '../../../src/communicator/dtypes.js';
import { reduceRankOrder } from '../../../src/communicator/reduce.js';
import { partOf } from '../../../src/communicator/algorithms/moves.js';
import { input } from '../../conformance/inputs.js';
import { firstDifference, sameBits } from '../../support/reference.js';
import { channelOf } from './channel-support.js';
import { closeAll, errorOf, formGroup, type GroupOptions } from './support.js';

const SIZES = [2, 3, 4, 5];
/** Above the message layer's 64 KiB eager threshold as float64: the rendezvous path. */
const LARGE = 20_011;

let open: Communicator[] = [];
afterEach(async () => {
  await closeAll(open);
  open = [];
});

async function group(size: number, options: GroupOptions): Promise<Communicator[]> {
  const comms = await formGroup(size, options);
  open.push(...comms);
  return comms;
}

/** Counts the payload bytes each rank posts on its pair channel (the data it sends as messages). */
function countPayload(comms: Communicator[]): number[] {
  const bytes = comms.map(() => 0);
  comms.forEach((comm, r) => {
    const channel = channelOf(comm);
    const post = channel.post.bind(channel);
    channel.post = (dest, header, payload) => {
      bytes[r] = (bytes[r] as number) + payload.byteLength;
      return post(dest, header, payload);
    };
  });
  return bytes;
}

/** Elements of part q of n split among `parts`. */
const partLength = (n: number, parts: number, q: number): number => {
  const [lo, hi] = partOf(n, parts, q);
  return hi - lo;
};

/** Floats whose sum depends on the order: full-mantissa values over six decades, both signs. */
function orderSensitive(dtype: DType, rank: number, n: number): NumericArray {
  const out = new dtype.ctor(n) as Float64Array;
  for (let i = 0; i < n; i++) {
    const h = Math.imul(rank * 7919 + i + 1, 0x9e3779b1) >>> 0;
    out[i] = (h / 4294967291 - 0.5) * 10 ** ((h % 7) - 3);
  }
  return out;
}

const sweepCounts = (size: number): number[] => [0, 1, size - 1, 7, 3 * size + 1];

describe('direct allreduce (reduce-scatter + allgather)', () => {
  for (const size of SIZES) {
    it(`${size} ranks: the star's bits for every dtype, op and count, in place and not`, async () => {
      const direct = await group(size, { algorithm: 'direct' });
      const star = await group(size, { algorithm: 'star' });
      const posted = countPayload(direct);
      for (const n of sweepCounts(size)) {
        for (const dtype of DTYPES) {
          for (const op of REDUCE_OPS) {
            const awkward = dtype.float && (op === 'sum' || op === 'prod');
            const parts = direct.map((c) => (awkward ? orderSensitive : input)(dtype, c.rank, n));
            const fromStar = await Promise.all(star.map((c) => c.allreduce(parts[c.rank]!, op)));
            const expected = new dtype.ctor(n);
            reduceRankOrder(expected, parts, op);
            const inPlace = n % 2 === 1;
            const got = await Promise.all(
              direct.map((c) => {
                const mine = parts[c.rank]!.slice();
                return c.allreduce(mine, op, inPlace ? mine : undefined);
              }),
            );
            for (let r = 0; r < size; r++) {
              const what = `${dtype.name} ${op} n=${n} rank ${r}`;
              expect(
                sameBits(got[r]!, fromStar[r]!),
                `${what}: ${firstDifference(got[r]!, fromStar[r]!)}`,
              ).toBe(true);
              expect(sameBits(got[r]!, expected), what).toBe(true);
            }
          }
        }
      }
      // Rank r sends every other rank its part, then its reduced part to every other rank.
      posted.forEach((bytes, r) => {
        const perElement = DTYPES.reduce((a, d) => a + d.bytes, 0) * REDUCE_OPS.length;
        let elements = 0;
        for (const n of sweepCounts(size))
          elements += n - partLength(n, size, r) + (size - 1) * partLength(n, size, r);
        expect(bytes, `rank ${r}`).toBe(elements * perElement);
      });
    });
  }

  it('order-sensitive float32/float64 sums over the rendezvous path, in place: the star bits (4 ranks)', async () => {
    const direct = await group(4, { algorithm: 'auto', directThresholds: { allreduce: 0 } });
    const star = await group(4, { algorithm: 'star' });
    const posted = countPayload(direct);
    for (const dtype of DTYPES.filter((d) => d.name === 'float32' || d.name === 'float64')) {
      const parts = direct.map((c) => orderSensitive(dtype, c.rank, LARGE));
      // The input tells orders apart: the reversed fold differs from the rank-order fold.
      const forward = new dtype.ctor(LARGE);
      const reversed = new dtype.ctor(LARGE);
      reduceRankOrder(forward, parts, 'sum');
      reduceRankOrder(reversed, [...parts].reverse(), 'sum');
      expect(sameBits(forward, reversed)).toBe(false);
      const fromStar = await Promise.all(star.map((c) => c.allreduce(parts[c.rank]!, 'sum')));
      const got = await Promise.all(
        direct.map((c) => {
          const mine = parts[c.rank]!.slice();
          return c.allreduce(mine, 'sum', mine);
        }),
      );
      for (let r = 0; r < 4; r++)
        expect(sameBits(got[r]!, fromStar[r]!), firstDifference(got[r]!, fromStar[r]!)).toBe(true);
    }
    // 2·(R−1)/R·n per rank (n = LARGE elements of 4 + 8 bytes; parts of LARGE/4 rounded).
    posted.forEach((bytes, r) => {
      const m = partLength(LARGE, 4, r);
      expect(bytes).toBe((LARGE - m + 3 * m) * (4 + 8));
    });
  });

  it('auto below the threshold stays on the star (no pair-channel bytes)', async () => {
    const comms = await group(3, { algorithm: 'auto', directThresholds: { allreduce: 1024 } });
    const posted = countPayload(comms);
    await Promise.all(comms.map((c) => c.allreduce(new Float64Array(127).fill(c.rank))));
    expect(posted).toEqual([0, 0, 0]);
    const got = await Promise.all(comms.map((c) => c.allreduce(new Float64Array(128).fill(c.rank))));
    for (const g of got) expect(Array.from(g)).toEqual(new Array(128).fill(3));
    expect(posted.every((b) => b > 0)).toBe(true);
  });

  it('auto with two ranks stays on the star at every size (direct moves the same bytes per rank, plus a round)', async () => {
    const comms = await group(2, {
      algorithm: 'auto',
      directThresholds: { allreduce: 0, allgatherv: 0, broadcast: 0 },
    });
    const posted = countPayload(comms);
    await Promise.all(comms.map((c) => c.allreduce(new Float64Array(4096).fill(c.rank))));
    await Promise.all(comms.map((c) => c.broadcast(new Float64Array(4096).fill(c.rank), 1)));
    expect(posted).toEqual([0, 0]);
  });
});

describe('direct allgatherv and broadcast', () => {
  for (const size of SIZES) {
    it(`${size} ranks: allgatherv with empty and uneven blocks, gaps and in place`, async () => {
      const comms = await group(size, { algorithm: 'direct' });
      const posted = countPayload(comms);
      const counts = Array.from({ length: size }, (_, r) => (r === 1 ? 0 : r * 3 + 1));
      counts[size - 1] = LARGE;
      // Blocks in reverse rank order with a gap of 2 before each.
      const displs: number[] = [];
      let at = 2;
      for (let r = size - 1; r >= 0; r--) {
        displs[r] = at;
        at += counts[r]! + 2;
      }
      const block = (r: number): Float64Array =>
        Float64Array.from({ length: counts[r]! }, (_, i) => r * 1e6 + i + 0.5);
      const recvs = comms.map(() => new Float64Array(at).fill(-1));
      await Promise.all(
        comms.map((c) => c.allgatherv(block(c.rank), { counts, displs, recv: recvs[c.rank] })),
      );
      const expected = new Float64Array(at).fill(-1);
      counts.forEach((_, r) => expected.set(block(r), displs[r]));
      for (const recv of recvs) expect(sameBits(recv, expected), firstDifference(recv, expected)).toBe(true);
      posted.forEach((bytes, r) => expect(bytes).toBe((size - 1) * counts[r]! * 8));
      // Packed, counts exchanged by the call, int16.
      const got = await Promise.all(
        comms.map((c) => c.allgatherv(Int16Array.from({ length: c.rank }, () => c.rank))),
      );
      const packed = Array.from({ length: size }, (_, r) => new Array<number>(r).fill(r)).flat();
      for (const g of got) expect(Array.from(g)).toEqual(packed);
    });

    it(`${size} ranks: broadcast from every root, counts 0, 1, < R, odd and large`, async () => {
      const comms = await group(size, { algorithm: 'direct' });
      const posted = countPayload(comms);
      const sent = comms.map(() => 0);
      for (const n of [0, 1, size - 2, 7, LARGE]) {
        for (let root = 0; root < size; root++) {
          const bufs = comms.map((c) =>
            c.rank === root ? orderSensitive(DTYPES[1]!, root + 1, n) : new Float32Array(n),
          );
          await Promise.all(comms.map((c) => c.broadcast(bufs[c.rank]!, root)));
          for (const b of bufs) expect(sameBits(b, bufs[root]!)).toBe(true);
          // The root sends n once; non-root j sends its part to the other R − 2.
          for (let r = 0; r < size; r++) {
            const j = r < root ? r : r - 1;
            sent[r]! += 4 * (r === root ? n : (size - 2) * partLength(n, size - 1, j));
          }
        }
      }
      expect(posted).toEqual(sent);
    });
  }
});

describe('direct collectives: disagreement', () => {
  it('allreduce counts that differ (one rank above the threshold, one below) are CollectiveMismatch on every rank', async () => {
    const comms = await group(3, { algorithm: 'auto', directThresholds: { allreduce: 800 } });
    const posted = countPayload(comms);
    const errors = await Promise.all(
      comms.map((c) => errorOf(c.allreduce(new Float64Array(c.rank === 2 ? 99 : 100)))),
    );
    for (const e of errors) expect(e.code).toBe('CollectiveMismatch');
    expect(posted).toEqual([0, 0, 0]);
    // The group is still usable, and the next direct call matches its tags on every rank.
    const got = await Promise.all(comms.map((c) => c.allreduce(new Float64Array(100).fill(c.rank + 1))));
    for (const g of got) expect(g[99]).toBe(6);
    expect(posted.every((b) => b > 0)).toBe(true);
  });

  it('allgatherv layouts that differ are CollectiveMismatch on every rank, recv untouched', async () => {
    const comms = await group(4, { algorithm: 'direct' });
    const posted = countPayload(comms);
    const recvs = comms.map(() => new Float64Array(16).fill(7));
    const errors = await Promise.all(
      comms.map((c) => {
        const counts = c.rank === 3 ? [1, 2, 3, 4] : [2, 2, 3, 4];
        return errorOf(c.allgatherv(new Float64Array(counts[c.rank]!), { counts, recv: recvs[c.rank] }));
      }),
    );
    for (const e of errors) expect(e.code).toBe('CollectiveMismatch');
    for (const recv of recvs) expect(recv.every((v) => v === 7)).toBe(true);
    const errs = await Promise.all(
      comms.map((c) => errorOf(c.broadcast(new Float64Array(8), c.rank === 0 ? 1 : 0))),
    );
    for (const e of errs) expect(e.code).toBe('CollectiveMismatch');
    expect(posted).toEqual([0, 0, 0, 0]);
    const got = await Promise.all(comms.map((c) => c.broadcast(new Float64Array(8).fill(c.rank + 0.5), 3)));
    for (const g of got) expect(Array.from(g)).toEqual(new Array(8).fill(3.5));
    expect(posted.every((b) => b > 0)).toBe(true);
  });

  it('a precondition failure on one rank (bad op) rejects the direct call on every rank', async () => {
    const comms = await group(3, { algorithm: 'direct' });
    const posted = countPayload(comms);
    const errors = await Promise.all(
      comms.map((c) => errorOf(c.allreduce(new Float64Array(10), (c.rank === 1 ? 'avg' : 'sum') as 'sum'))),
    );
    for (const e of errors) expect(e.code).toBe('InvalidArgument');
    const got = await Promise.all(comms.map((c) => c.allreduce(new Float64Array(10).fill(2))));
    for (const g of got) expect(g[9]).toBe(6);
    expect(posted.every((b) => b > 0)).toBe(true);
  });
});
