/**
 * Conformance family: the contract under ordinary use (issue 11) — metadata that travels whatever the
 * user's dtype, bookkeeping that stays in step after a rejected call, aliased and detached buffers,
 * values the object family cannot carry. Registered in all-cases.ts.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../src/communicator/communicator.js';
import { DTYPES, type DType, type DTypeName, type NumericArray } from '../../src/communicator/dtypes.js';
import type { CommErrorCode } from '../../src/communicator/errors.js';
import { assertBits, expectCommError, type ConformanceCase } from './cases.js';
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

// ---- bookkeeping advances identically: bad on one rank, then good (item 13) -----------------
/**
 * One operation's "bad on one rank" call and its good repeat. `bad(comm, isBad)` makes the call with
 * arguments that fail a precondition on the bad rank only (valid elsewhere); every rank must get
 * `code`. `good(comm)` then repeats the operation validly and checks its result: it hangs or fails
 * if any rank's bookkeeping (sequence, round, region number, queue) moved differently.
 */
interface BadThenGood {
  operation: string;
  code: CommErrorCode;
  bad(comm: Communicator, isBad: boolean, badRank: number): Promise<unknown>;
  good(comm: Communicator): Promise<void>;
}

const sum = (size: number): number => (size * (size + 1)) / 2;

async function goodRegion(comm: Communicator): Promise<void> {
  const region = await comm.createSharedRegion(Int32Array, 16);
  if (region.isLeader) region.data.fill(7);
  await region.fence();
  assert.ok(
    region.data.every((x) => x === 7),
    'every rank reads the leader’s writes',
  );
  await region.fence();
  await region.close();
}

const BAD_THEN_GOOD: BadThenGood[] = [
  {
    operation: 'allreduce (bad op)',
    code: 'InvalidArgument',
    bad: (comm, isBad) => comm.allreduce(new Float64Array(2), isBad ? ('avg' as never) : 'sum'),
    async good(comm) {
      const got = await comm.allreduce(new Float64Array([comm.rank + 1]));
      assert.equal(got[0], sum(comm.size));
    },
  },
  {
    operation: 'allgatherv with counts (counts of the wrong length)',
    code: 'InvalidArgument',
    bad: (comm, isBad) =>
      comm.allgatherv(new Float64Array(1), {
        counts: new Array<number>(comm.size + (isBad ? 1 : 0)).fill(1),
      }),
    async good(comm) {
      const counts = Array.from({ length: comm.size }, (_, r) => r + 1);
      const got = await comm.allgatherv(new Float64Array(comm.rank + 1).fill(comm.rank), { counts });
      assert.equal(got.length, sum(comm.size));
      assert.equal(got[got.length - 1], comm.size - 1);
    },
  },
  {
    operation: 'allgatherv without counts (recv of another dtype)',
    code: 'InvalidArgument',
    bad: (comm, isBad) =>
      comm.allgatherv(new Float64Array(1), {
        recv: (isBad ? new Int32Array(comm.size) : undefined) as never,
      }),
    good: goodAutoGather,
  },
  {
    operation: 'allgatherv without counts (recv too short, found after the counts exchange)',
    code: 'InvalidBufferSize',
    bad: (comm, isBad) =>
      comm.allgatherv(new Float64Array(2), { recv: new Float64Array(isBad ? 1 : 2 * comm.size) }),
    good: goodAutoGather,
  },
  {
    operation: 'broadcast (root out of range)',
    code: 'InvalidRoot',
    bad: (comm, isBad) => comm.broadcast(new Float64Array(3), isBad ? comm.size : 0),
    async good(comm) {
      const buf = new Float64Array(3).fill(comm.rank === 0 ? 9 : 0);
      await comm.broadcast(buf);
      assert.deepEqual(Array.from(buf), [9, 9, 9]);
    },
  },
  {
    operation: 'allgather (a value that cannot travel)',
    code: 'InvalidArgument',
    bad: (comm, isBad) => comm.allgather(isBad ? Symbol('no') : comm.rank),
    async good(comm) {
      assert.deepEqual(
        await comm.allgather(comm.rank),
        Array.from({ length: comm.size }, (_, r) => r),
      );
    },
  },
  {
    operation: 'bcast (root out of range)',
    code: 'InvalidRoot',
    bad: (comm, isBad) => comm.bcast('x', isBad ? -1 : 0),
    good: goodBcast,
  },
  {
    operation: 'bcast (a value that cannot travel, on the root)',
    code: 'InvalidArgument',
    bad: (comm, isBad, badRank) => comm.bcast(isBad ? Symbol('no') : 'ok', badRank),
    good: goodBcast,
  },
  {
    operation: 'createSharedRegion (negative count)',
    code: 'InvalidArgument',
    bad: (comm, isBad) => comm.createSharedRegion(Int32Array, isBad ? -1 : 16),
    async good(comm) {
      await goodRegion(comm);
      await goodRegion(comm);
      const local = await comm.splitLocal();
      await goodRegion(local);
    },
  },
  {
    operation: 'createSharedRegion (not a typed array constructor)',
    code: 'InvalidArgument',
    bad: (comm, isBad) => comm.createSharedRegion((isBad ? Array : Int32Array) as never, 16),
    good: goodRegion,
  },
];

async function goodAutoGather(comm: Communicator): Promise<void> {
  const got = await comm.allgatherv(new Uint8Array(comm.rank + 1).fill(comm.rank + 1));
  assert.equal(got.length, sum(comm.size));
  assert.equal(got[got.length - 1], comm.size);
}

async function goodBcast(comm: Communicator): Promise<void> {
  for (const root of [0, comm.size - 1]) {
    assert.deepEqual(await comm.bcast(comm.rank === root ? { root } : null, root), { root });
  }
}

for (const op of BAD_THEN_GOOD) {
  add({
    name: `bad on one rank, then good: ${op.operation}`,
    minSize: 2,
    async run(comm) {
      // The bad rank is the last, then the first (the shm leader): each then repeats the good call.
      for (const badRank of [comm.size - 1, 0]) {
        await expectCommError(
          op.bad(comm, comm.rank === badRank, badRank),
          op.code,
          `${op.operation}, bad on rank ${badRank}`,
        );
        await op.good(comm);
      }
    },
  });
}
add({
  name: 'rejected on every rank, then good: createSharedRegion counts that disagree',
  minSize: 2,
  async run(comm) {
    await expectCommError(
      comm.createSharedRegion(Int32Array, comm.rank === 0 ? 8 : 16),
      'CollectiveMismatch',
      'region counts',
    );
    await goodRegion(comm);
  },
});

// ---- aliasing: recv partly overlapping send (item 5) ----------------------------------------
/** The sizes of the report (just past a chunk on tcp and on shm) and small ones (≥ 2: a shift by one overlaps). */
const OVERLAP_SIZES = [2, 3, 37, 32_769, 524_289];

add({
  name: 'aliasing: recv partly overlapping send is InvalidArgument on every rank, every size',
  async run(comm) {
    for (const n of OVERLAP_SIZES) {
      const buf = new Float64Array(n + 1).fill(1);
      const e = await expectCommError(
        comm.allreduce(buf.subarray(0, n), 'sum', buf.subarray(1, n + 1)),
        'InvalidArgument',
        `allreduce n=${n} recv one element after send`,
      );
      assert.match(e.message, /overlap/);
      assert.match(e.message, /recv === send/);
      await expectCommError(
        comm.allreduce(buf.subarray(1, n + 1), 'max', buf.subarray(0, n)),
        'InvalidArgument',
        `allreduce n=${n} recv one element before send`,
      );
      // allgatherv: recv's extent runs over send's bytes (with and without counts).
      const whole = new Float64Array(n * comm.size + 1);
      const send = whole.subarray(1, n + 1);
      const recv = whole.subarray(0, n * comm.size);
      const counts = new Array<number>(comm.size).fill(n);
      await expectCommError(comm.allgatherv(send, { counts, recv }), 'InvalidArgument', `allgatherv n=${n}`);
      await expectCommError(comm.allgatherv(send, { recv }), 'InvalidArgument', `allgatherv auto n=${n}`);
    }
    // Different buffers, the exact same bytes (recv === send or another view of them), and
    // adjacent ranges of one buffer stay allowed.
    const buf = new Float64Array(8).fill(comm.rank + 1);
    const same = new Float64Array(buf.buffer, 0, 4);
    assert.equal(await comm.allreduce(buf.subarray(0, 4), 'sum', same), same);
    assert.deepEqual(Array.from(same), new Array(4).fill((comm.size * (comm.size + 1)) / 2));
    const got = await comm.allreduce(buf.subarray(4, 8), 'sum', buf.subarray(0, 4));
    assert.deepEqual(Array.from(got), new Array(4).fill((comm.size * (comm.size + 1)) / 2));
  },
});
add({
  name: 'aliasing: overlap on one rank only is InvalidArgument on every rank, then good',
  minSize: 2,
  async run(comm) {
    const n = 32_769;
    const bad = comm.rank === comm.size - 1;
    const buf = new Float64Array(n + 1).fill(1);
    const recv = bad ? buf.subarray(1, n + 1) : new Float64Array(n);
    const e = await expectCommError(
      comm.allreduce(buf.subarray(0, n), 'sum', recv),
      'InvalidArgument',
      'one rank overlaps',
    );
    if (!bad) assert.match(e.message, new RegExp(`rank ${comm.size - 1}`));
    const got = await comm.allreduce(buf.subarray(0, n));
    assert.equal(got[n - 1], comm.size);
  },
});

// ---- detached buffers (item 14) --------------------------------------------------------------
/** A typed array whose ArrayBuffer has been transferred away (as postMessage with transfer does). */
function detached<T extends NumericArray>(array: T): T {
  structuredClone(array, { transfer: [array.buffer as ArrayBuffer] });
  return array;
}

add({
  name: 'detached buffer on one rank: InvalidArgument naming it on every rank, then good',
  minSize: 2,
  async run(comm) {
    const last = comm.size - 1;
    const isBad = comm.rank === last;
    const live = (): Float64Array => new Float64Array(4).fill(comm.rank + 1);
    const maybe = (): Float64Array => (isBad ? detached(live()) : live());
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['allreduce send', () => comm.allreduce(maybe())],
      ['allreduce recv', () => comm.allreduce(live(), 'sum', maybe())],
      ['allgatherv send', () => comm.allgatherv(maybe(), { counts: new Array<number>(comm.size).fill(4) })],
      ['allgatherv auto send', () => comm.allgatherv(maybe())],
      [
        'allgatherv recv',
        () =>
          comm.allgatherv(live(), { recv: isBad ? detached(new Float64Array(4 * comm.size)) : undefined }),
      ],
      ['broadcast', () => comm.broadcast(maybe(), last)],
    ];
    for (const [what, call] of calls) {
      const e = await expectCommError(call(), 'InvalidArgument', what);
      if (isBad) assert.match(e.message, /detached/, what);
      else assert.match(e.message, new RegExp(`rank ${last}`), what);
      const got = await comm.allreduce(new Float64Array([1]));
      assert.equal(got[0], comm.size, `${what}: the communicator still works`);
    }
  },
});
add({
  name: 'detached buffer after the call, before the queued collective starts: InvalidArgument on every rank',
  minSize: 2,
  async run(comm) {
    const isBad = comm.rank === 0;
    // An object call is asynchronous on every backend, so the allreduce after it waits in the queue.
    const first = comm.bcast('first');
    const second = new Float64Array(1024).fill(1);
    const queued = comm.allreduce(second);
    if (isBad) detached(second);
    await first;
    await expectCommError(queued, 'InvalidArgument', 'detached while queued');
    const got = await comm.allreduce(new Float64Array([1]));
    assert.equal(got[0], comm.size);
  },
});

// ---- objects: what cannot travel is refused, what travels arrives whole (item 10) -----------
class Point {
  constructor(readonly x: number) {}
  norm(): number {
    return Math.abs(this.x);
  }
}
/** Values the object family must refuse on the sending rank — and so on every rank. */
const CANNOT_TRAVEL: Array<[string, () => unknown]> = [
  ['a method', () => ({ keep: 1, f() {} })],
  ['a function in an array', () => [1, () => 2]],
  ['a function as a Map value', () => new Map([['k', Math.max]])],
  ['a symbol', () => ({ s: Symbol('s') })],
  ['a symbol key', () => ({ a: 1, [Symbol('k')]: 2 })],
  ['an own __proto__ key', () => JSON.parse('{"__proto__": {"x": 1}, "y": 2}')],
  ['a lone surrogate in a string', () => ({ text: 'a\uD800b' })],
  ['a lone surrogate in a key', () => ({ ['k\uDC00']: 1 })],
  ['a lone surrogate in a Map key', () => new Map([['\uD83D', 1]])],
  ['a class instance', () => ({ p: new Point(3) })],
  ['a SharedArrayBuffer', () => new SharedArrayBuffer(8)],
  ['a WeakMap', () => new WeakMap()],
  ['a Promise', () => Promise.resolve(1)],
  ['a boxed number', () => [new Number(3)]],
];

add({
  name: 'objects: a value that cannot travel is InvalidArgument on every rank, then the group is usable',
  async run(comm) {
    const last = comm.size - 1;
    for (const [what, make] of CANNOT_TRAVEL) {
      const e = await expectCommError(
        comm.allgather(comm.rank === last ? make() : comm.rank),
        'InvalidArgument',
        `allgather of ${what}`,
      );
      if (comm.rank === last) assert.match(e.message, /cannot travel/, what);
      await expectCommError(
        comm.bcast(comm.rank === last ? make() : null, last),
        'InvalidArgument',
        `bcast of ${what}`,
      );
      assert.deepEqual(await comm.bcast(comm.rank === 0 ? { ok: what } : null), { ok: what });
    }
  },
});

function travelling(rank: number): Record<string, unknown> {
  const cycle: Record<string, unknown> = { rank };
  cycle['self'] = cycle;
  return {
    undefinedInArray: [1, undefined, 3],
    nanAndInfinities: [NaN, Infinity, -Infinity],
    mapWithObjectKeys: new Map<unknown, unknown>([
      [{ k: rank }, 'v'],
      [NaN, 1],
    ]),
    bigints: [2n ** 80n + BigInt(rank), -(2n ** 70n)],
    dates: [new Date(1_700_000_000_000 + rank), new Date(NaN)],
    regexp: /a+b/gi,
    typed: DTYPES.map((d) => input(d, rank, 3)),
    arrayBuffer: new Uint8Array([rank, 1, 2]).buffer,
    dataView: new DataView(new Uint8Array([rank, 9]).buffer),
    cycle,
    nullPrototype: Object.assign(Object.create(null) as object, { a: rank }),
    unicode: 'é 😀 \u2028',
    emptyKey: { '': rank },
  };
}

add({
  name: 'objects: every kind the spec lists round-trips through allgather and bcast',
  async run(comm) {
    const all = await comm.allgather(travelling(comm.rank));
    for (let r = 0; r < comm.size; r++) {
      const got = all[r] as Record<string, unknown>;
      const want = travelling(r);
      for (const key of Object.keys(want)) {
        if (key === 'nullPrototype') assert.deepEqual({ ...(got[key] as object) }, { a: r });
        else if (key === 'dates') {
          const [valid, invalid] = got[key] as Date[];
          assert.equal(valid?.getTime(), 1_700_000_000_000 + r);
          assert.ok(invalid instanceof Date && Number.isNaN(invalid.getTime()), 'an invalid Date stays one');
        } else if (key === 'cycle') assert.equal((got[key] as Record<string, unknown>)['self'], got[key]);
        else assert.deepEqual(got[key], want[key], `${key} from rank ${r}`);
      }
    }
    // Documented conversions on the receivers: a hole arrives as undefined, a getter as its value,
    // an Error as its standard class with message and cause.
    const got = await comm.bcast(
      comm.rank === 0
        ? {
            // eslint-disable-next-line no-sparse-arrays
            sparse: [1, , 3],
            getter: Object.defineProperty({}, 'g', { get: () => 5, enumerable: true }),
            error: new RangeError('out', { cause: 7 }),
          }
        : null,
    );
    if (comm.rank === 0) return; // the root returns its own value, unencoded (spec §4.6)
    assert.deepEqual(got?.sparse, [1, undefined, 3]);
    assert.deepEqual(got?.getter, { g: 5 });
    assert.ok(got?.error instanceof RangeError);
    assert.equal(got.error.message, 'out');
    assert.equal(got.error.cause, 7);
  },
});

export const CONTRACT_CASES: readonly ConformanceCase[] = cases;
