/**
 * The conformance cases, written once. Each case runs on every rank of a world with that rank's
 * communicator and asserts with node:assert, so it runs the same in-process, in a worker thread or
 * in a child process. The suite (conformance.test.ts) instantiates them per backend × world size.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Communicator } from '../../src/communicator/communicator.js';
import { DTYPES, REDUCE_OPS, type NumericArray } from '../../src/communicator/dtypes.js';
import type { CommErrorCode } from '../../src/communicator/errors.js';
import { firstDifference, referenceReduce, sameBits } from '../support/reference.js';
import { FLOAT64, input, pattern } from './inputs.js';

export interface ConformanceCase {
  name: string;
  /** Smallest world the case means something in (default 1). */
  minSize?: number;
  maxSize?: number;
  /** The case breaks its communicator (close, failure, timeout): run it in a world of its own. */
  fresh?: { timeoutSecs?: number };
  run(comm: Communicator): Promise<void>;
}

export async function expectCommError(
  promise: Promise<unknown>,
  code: CommErrorCode,
  what: string,
): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `${what}: expected CommError ${code}, but the call succeeded`);
  const e = caught as Error & { code?: string };
  assert.equal(e.name, 'CommError', `${what}: expected a CommError, got ${e.name}: ${e.message}`);
  assert.equal(e.code, code, `${what}: expected code ${code}, got ${e.code}: ${e.message}`);
  return e;
}

export function assertBits(got: NumericArray, expected: NumericArray, what: string): void {
  assert.ok(sameBits(got, expected), `${what}: ${firstDifference(got, expected)}`);
}

async function checkAllreduce(comm: Communicator, n: number, salt = 0): Promise<void> {
  for (const dtype of DTYPES) {
    for (const op of REDUCE_OPS) {
      const parts = Array.from({ length: comm.size }, (_, r) => input(dtype, r, n, salt));
      const expected = new dtype.ctor(n);
      referenceReduce(dtype.name, op, parts, expected);
      const got = await comm.allreduce(parts[comm.rank] as NumericArray, op);
      assertBits(got, expected, `allreduce ${op} ${dtype.name} n=${n}`);
    }
  }
}

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => void cases.push(c);

// ---- rank and size ---------------------------------------------------------------------------
add({
  name: 'rank and size are unique, in range and constant',
  async run(comm) {
    const { rank, size } = comm;
    assert.ok(Number.isInteger(rank) && rank >= 0 && rank < size);
    const seen = await comm.allgather({ rank, size });
    assert.deepEqual(
      seen,
      Array.from({ length: size }, (_, r) => ({ rank: r, size })),
    );
    await comm.barrier();
    assert.equal(comm.rank, rank);
    assert.equal(comm.size, size);
    assert.equal(typeof comm.backend, 'string');
  },
});

// ---- allreduce -------------------------------------------------------------------------------
add({ name: 'allreduce: every op × every dtype, odd count', run: (comm) => checkAllreduce(comm, 37) });
add({ name: 'allreduce: every op × every dtype, one element', run: (comm) => checkAllreduce(comm, 1, 3) });
add({
  name: 'allreduce: zero elements',
  async run(comm) {
    const got = await comm.allreduce(new Float64Array(0));
    assert.equal(got.length, 0);
  },
});
add({
  name: 'allreduce: default op is sum, result is a new array',
  async run(comm) {
    const send = new Float64Array([comm.rank + 1, 2]);
    const got = await comm.allreduce(send);
    assert.notEqual(got, send);
    assert.deepEqual(Array.from(got), [(comm.size * (comm.size + 1)) / 2, 2 * comm.size]);
    assert.deepEqual(Array.from(send), [comm.rank + 1, 2], 'send is unchanged');
  },
});
add({
  name: 'allreduce: in place (recv is send) and caller recv',
  async run(comm) {
    const parts = Array.from({ length: comm.size }, (_, r) => input(FLOAT64, r, 101));
    const expected = new Float64Array(101);
    referenceReduce('float64', 'sum', parts, expected);
    const buf = input(FLOAT64, comm.rank, 101);
    const same = await comm.allreduce(buf, 'sum', buf);
    assert.equal(same, buf);
    assertBits(buf, expected, 'in place');
    const recv = new Float64Array(101);
    const got = await comm.allreduce(input(FLOAT64, comm.rank, 101), 'sum', recv);
    assert.equal(got, recv);
    assertBits(recv, expected, 'caller recv');
  },
});
add({
  name: 'allreduce: subarray views with non-zero byteOffset',
  async run(comm) {
    const backing = new Float32Array(64).fill(-1);
    const send = backing.subarray(5, 5 + 23);
    send.set(input(DTYPES[1]!, comm.rank, 23) as Float32Array);
    const recvBacking = new Float32Array(64).fill(7);
    const recv = recvBacking.subarray(9, 9 + 23);
    const parts = Array.from({ length: comm.size }, (_, r) => input(DTYPES[1]!, r, 23));
    const expected = new Float32Array(23);
    referenceReduce('float32', 'max', parts, expected);
    await comm.allreduce(send, 'max', recv);
    assertBits(recv, expected, 'view');
    assert.ok(
      recvBacking.subarray(0, 9).every((x) => x === 7),
      'bytes before the view untouched',
    );
    assert.ok(
      recvBacking.subarray(32).every((x) => x === 7),
      'bytes after the view untouched',
    );
  },
});
add({
  name: 'allreduce: large payload that streams (300,007 float64, not a multiple of any chunk)',
  async run(comm) {
    const n = 300_007;
    const parts = Array.from({ length: comm.size }, (_, r) => input(FLOAT64, r, n, 11));
    const expected = new Float64Array(n);
    referenceReduce('float64', 'sum', parts, expected);
    const got = await comm.allreduce(parts[comm.rank] as Float64Array, 'sum');
    assertBits(got, expected, 'large sum');
    const again = await comm.allreduce(parts[comm.rank] as Float64Array, 'sum');
    assertBits(again, got, 'repeat gives identical bits');
  },
});
add({
  name: 'allreduce: identity at size 1 keeps NaN and -0 bits',
  maxSize: 1,
  async run(comm) {
    const send = new Float64Array([NaN, -0, 0, 1.5, -Infinity]);
    for (const op of REDUCE_OPS) assertBits(await comm.allreduce(send, op), send, op);
  },
});

// ---- allgatherv ------------------------------------------------------------------------------
function expectedGather(
  size: number,
  counts: number[],
  displs: number[],
  extent: number,
  fill = 0,
): Float64Array {
  const out = new Float64Array(extent).fill(fill);
  for (let r = 0; r < size; r++) out.set(pattern(r, counts[r] as number), displs[r]);
  return out;
}
function packed(counts: number[]): number[] {
  let at = 0;
  return counts.map((c) => ((at += c), at - c));
}

add({
  name: 'allgatherv: heterogeneous counts given',
  async run(comm) {
    const counts = Array.from({ length: comm.size }, (_, r) => r + 1);
    const got = await comm.allgatherv(pattern(comm.rank, comm.rank + 1), { counts });
    const total = counts.reduce((a, b) => a + b, 0);
    assertBits(got, expectedGather(comm.size, counts, packed(counts), total), 'gather');
  },
});
add({
  name: 'allgatherv: counts omitted are exchanged automatically',
  async run(comm) {
    const counts = Array.from({ length: comm.size }, (_, r) => (r * 7) % 5);
    const got = await comm.allgatherv(pattern(comm.rank, counts[comm.rank] as number));
    const total = counts.reduce((a, b) => a + b, 0);
    assertBits(got, expectedGather(comm.size, counts, packed(counts), total), 'gather');
  },
});
add({
  name: 'allgatherv: a zero-count rank',
  async run(comm) {
    const counts = Array.from({ length: comm.size }, (_, r) => (r === 0 ? 0 : 3));
    const got = await comm.allgatherv(pattern(comm.rank, counts[comm.rank] as number), { counts });
    assertBits(got, expectedGather(comm.size, counts, packed(counts), 3 * (comm.size - 1)), 'gather');
  },
});
add({
  name: 'allgatherv: one element each, every dtype',
  async run(comm) {
    for (const dtype of DTYPES) {
      const counts = new Array<number>(comm.size).fill(1);
      const got = await comm.allgatherv(input(dtype, comm.rank, 1), { counts });
      const expected = new dtype.ctor(comm.size);
      for (let r = 0; r < comm.size; r++)
        (expected as Float64Array).set(input(dtype, r, 1) as Float64Array, r);
      assertBits(got, expected, dtype.name);
    }
  },
});
add({
  name: 'allgatherv: 100,000 elements per rank',
  async run(comm) {
    const n = 100_000;
    const counts = new Array<number>(comm.size).fill(n);
    const got = await comm.allgatherv(pattern(comm.rank, n), { counts });
    assertBits(got, expectedGather(comm.size, counts, packed(counts), n * comm.size), 'gather');
  },
});
add({
  name: 'allgatherv: caller displs with gaps, reversed, into a caller recv',
  async run(comm) {
    const size = comm.size;
    const counts = Array.from({ length: size }, (_, r) => 2 + (r % 3));
    // Blocks in reverse rank order with a gap of 2 before each.
    const displs: number[] = new Array<number>(size);
    let at = 2;
    for (let r = size - 1; r >= 0; r--) {
      displs[r] = at;
      at += (counts[r] as number) + 2;
    }
    const recv = new Float64Array(at + 3).fill(-9);
    const got = await comm.allgatherv(pattern(comm.rank, counts[comm.rank] as number), {
      counts,
      displs,
      recv,
    });
    assert.equal(got, recv);
    assertBits(recv, expectedGather(size, counts, displs, at + 3, -9), 'gaps stay untouched');
  },
});
add({
  name: 'allgatherv: identity at size 1',
  maxSize: 1,
  async run(comm) {
    const send = pattern(0, 9);
    assertBits(await comm.allgatherv(send), send, 'identity');
    assertBits(await comm.allgatherv(send, { counts: [9], displs: [0] }), send, 'identity with counts');
  },
});

// ---- broadcast -------------------------------------------------------------------------------
add({
  name: 'broadcast: 10,000-element pattern from root 0 and from root R-1',
  async run(comm) {
    for (const root of [0, comm.size - 1]) {
      const buf = comm.rank === root ? pattern(root, 10_000) : new Float64Array(10_000).fill(-1);
      const got = await comm.broadcast(buf, root);
      assert.equal(got, buf);
      assertBits(buf, pattern(root, 10_000), `root ${root}`);
    }
  },
});
add({
  name: 'broadcast: every dtype, default root 0, zero length, subarray view',
  async run(comm) {
    for (const dtype of DTYPES) {
      const buf = comm.rank === 0 ? input(dtype, 0, 13) : new dtype.ctor(13);
      await comm.broadcast(buf);
      assertBits(buf, input(dtype, 0, 13), dtype.name);
    }
    assert.equal((await comm.broadcast(new Int32Array(0), comm.size - 1)).length, 0);
    const backing = new Int16Array(40).fill(3);
    const view = backing.subarray(7, 27);
    if (comm.rank === 0) view.set(Array.from({ length: 20 }, (_, i) => i * 100));
    await comm.broadcast(view, 0);
    assert.deepEqual(
      Array.from(view),
      Array.from({ length: 20 }, (_, i) => i * 100),
    );
    assert.ok(backing.subarray(0, 7).every((x) => x === 3) && backing.subarray(27).every((x) => x === 3));
  },
});

// ---- barrier ---------------------------------------------------------------------------------
add({
  name: 'barrier: writes before it are seen by every rank after it, three barriers in a row',
  async run(comm) {
    // The shared medium is the file system, so the check means the same for threads and processes.
    const dir = await comm.bcast(comm.rank === 0 ? mkdtempSync(join(tmpdir(), 'collective-barrier-')) : '');
    try {
      for (let round = 0; round < 3; round++) {
        writeFileSync(join(dir, `rank-${comm.rank}`), `${round}`);
        await comm.barrier();
        for (let r = 0; r < comm.size; r++) {
          assert.equal(readFileSync(join(dir, `rank-${r}`), 'utf8'), `${round}`, `round ${round}, rank ${r}`);
        }
        await comm.barrier();
      }
      await comm.barrier();
      await comm.barrier();
      await comm.barrier();
    } finally {
      await comm.barrier();
      if (comm.rank === 0) rmSync(dir, { recursive: true, force: true });
    }
  },
});

// ---- many collectives ------------------------------------------------------------------------
add({
  name: '1,000 mixed collectives back to back, every result checked',
  async run(comm) {
    const { rank, size } = comm;
    for (let i = 0; i < 1000; i++) {
      switch (i % 5) {
        case 0: {
          const got = await comm.allreduce(new Int32Array([rank + i, 1]), 'sum');
          assert.deepEqual(Array.from(got), [(size * (size - 1)) / 2 + size * i, size], `#${i}`);
          break;
        }
        case 1: {
          const root = i % size;
          const buf = rank === root ? new Float64Array([i, root]) : new Float64Array(2);
          await comm.broadcast(buf, root);
          assert.deepEqual(Array.from(buf), [i, root], `#${i}`);
          break;
        }
        case 2: {
          const got = await comm.allgatherv(new Uint16Array(((rank + i) % 3) + 0).fill(rank));
          const expected = Array.from({ length: size }, (_, r) =>
            new Array<number>((r + i) % 3).fill(r),
          ).flat();
          assert.deepEqual(Array.from(got), expected, `#${i}`);
          break;
        }
        case 3:
          await comm.barrier();
          break;
        case 4: {
          const got = await comm.allreduce(new Float64Array([rank === i % size ? i : -1]), 'max');
          assert.equal(got[0], size === 1 && i % size !== 0 ? -1 : i, `#${i}`);
          break;
        }
      }
    }
  },
});
add({
  name: 'collectives issued without awaiting run in call order',
  async run(comm) {
    const results = await Promise.all([
      comm.allreduce(new Float64Array([1])),
      comm.broadcast(new Int8Array([comm.rank === 0 ? 5 : 0])),
      comm.allgather(comm.rank),
      comm.barrier(),
      comm.allreduce(new Float64Array([comm.rank]), 'max'),
    ]);
    assert.equal((results[0] as Float64Array)[0], comm.size);
    assert.equal((results[1] as Int8Array)[0], 5);
    assert.deepEqual(
      results[2],
      Array.from({ length: comm.size }, (_, r) => r),
    );
    assert.equal((results[4] as Float64Array)[0], comm.size - 1);
  },
});

// ---- objects ---------------------------------------------------------------------------------
function richValue(rank: number): unknown {
  return {
    rank,
    name: `rank-${rank}`,
    nested: { list: [1, 'two', null, [rank, { deep: true }]], empty: {} },
    map: new Map<unknown, unknown>([
      ['k', rank],
      [7, new Set(['a', rank])],
    ]),
    when: new Date(1_700_000_000_000 + rank),
    big: 2n ** 70n + BigInt(rank),
    small: -5n,
    floats: new Float64Array([rank, 0.5, NaN]),
    bytes: new Uint8Array([rank, 255]),
    ints: new BigInt64Array([-1n, BigInt(rank)]),
  };
}
add({
  name: 'allgather: nested objects, Maps, Sets, Dates, bigints and typed arrays in rank order',
  async run(comm) {
    const all = await comm.allgather(richValue(comm.rank));
    assert.deepEqual(
      all,
      Array.from({ length: comm.size }, (_, r) => richValue(r)),
    );
    assert.deepEqual(await comm.allgather(undefined), new Array(comm.size).fill(undefined));
  },
});
add({
  name: 'bcast: rich values from root 0 and root R-1',
  async run(comm) {
    for (const root of [0, comm.size - 1]) {
      const got = await comm.bcast(comm.rank === root ? richValue(root) : null, root);
      assert.deepEqual(got, richValue(root));
    }
    const big = await comm.bcast(comm.rank === 0 ? 'x'.repeat(200_000) : '');
    assert.equal(big.length, 200_000);
  },
});

// ---- shared regions --------------------------------------------------------------------------
add({
  name: 'shared region: the leader writes, fence, every rank reads; splitLocal agrees with isLeader',
  async run(comm) {
    const region = await comm.createSharedRegion(Float64Array, 1000);
    assert.equal(region.data.length, 1000);
    if (region.isLeader) for (let i = 0; i < 1000; i++) region.data[i] = i * 0.5;
    await region.fence();
    for (let i = 0; i < 1000; i++) assert.equal(region.data[i], i * 0.5);
    await region.fence();
    await region.close();
    const local = await comm.splitLocal();
    assert.ok(local.size >= 1 && local.size <= comm.size);
    assert.ok(local.rank >= 0 && local.rank < local.size);
    assert.equal(local.isLeader, local.rank === 0);
    const leaders = await comm.allreduce(new Int32Array([comm.isLeader ? 1 : 0]));
    assert.ok((leaders[0] as number) >= 1, 'at least one leader');
  },
});

// ---- errors: preconditions (every rank passes the same bad input) ----------------------------
add({
  name: 'InvalidArgument: bad op, plain array, mismatched recv type, bad counts',
  async run(comm) {
    await expectCommError(comm.allreduce(new Float64Array(2), 'avg' as never), 'InvalidArgument', 'op avg');
    await expectCommError(comm.allreduce([1, 2] as never), 'InvalidArgument', 'plain array');
    await expectCommError(
      comm.allreduce(new Float64Array(2), 'sum', new Float32Array(2) as never),
      'InvalidArgument',
      'recv type',
    );
    await expectCommError(
      comm.allgatherv(new Float64Array(1), { counts: new Array<number>(comm.size + 1).fill(1) }),
      'InvalidArgument',
      'counts length',
    );
    await expectCommError(
      comm.allgatherv(new Float64Array(1), { counts: new Array<number>(comm.size).fill(-1) }),
      'InvalidArgument',
      'negative count',
    );
    await expectCommError(comm.createSharedRegion(Array as never, 4), 'InvalidArgument', 'region ctor');
    await expectCommError(comm.createSharedRegion(Float64Array, -1), 'InvalidArgument', 'region count');
    await comm.barrier();
  },
});
add({
  name: 'InvalidBufferSize: recv of the wrong length, counts[rank] ≠ send.length',
  async run(comm) {
    const e = await expectCommError(
      comm.allreduce(new Float64Array(4), 'sum', new Float64Array(3)),
      'InvalidBufferSize',
      'recv length',
    );
    assert.match(e.message, /3 elements, expected 4/);
    const counts = new Array<number>(comm.size).fill(2);
    await expectCommError(
      comm.allgatherv(new Float64Array(3), { counts }),
      'InvalidBufferSize',
      'counts[rank]',
    );
    await comm.barrier();
  },
});
add({
  name: 'InvalidRoot: root out of range, negative, fractional',
  async run(comm) {
    for (const root of [comm.size, -1, 0.5]) {
      await expectCommError(comm.broadcast(new Float64Array(1), root), 'InvalidRoot', `root ${root}`);
      await expectCommError(comm.bcast('x', root), 'InvalidRoot', `bcast root ${root}`);
    }
    await comm.barrier();
  },
});
add({
  name: 'AllocationFailed: a region or recv larger than memory',
  async run(comm) {
    await expectCommError(comm.createSharedRegion(Float64Array, 2 ** 50), 'AllocationFailed', 'region');
    const counts = new Array<number>(comm.size).fill(1);
    const displs = counts.map((_, r) => 2 ** 50 + r);
    await expectCommError(
      comm.allgatherv(new Float64Array(1), { counts, displs }),
      'AllocationFailed',
      'recv',
    );
    await comm.barrier();
  },
});

// ---- errors: disagreement between ranks ------------------------------------------------------
add({
  name: 'bad input on one rank only: every rank gets the same code, then the communicator works',
  minSize: 2,
  async run(comm) {
    const bad = comm.rank === comm.size - 1;
    const e = await expectCommError(
      comm.allreduce(new Float64Array(4), 'sum', new Float64Array(bad ? 3 : 4)),
      'InvalidBufferSize',
      'one bad recv',
    );
    if (!bad) assert.match(e.message, new RegExp(`rank ${comm.size - 1}`));
    await expectCommError(
      comm.broadcast(new Float64Array(2), comm.rank === 0 ? comm.size : 0),
      'InvalidRoot',
      'one bad root',
    );
    const got = await comm.allreduce(new Float64Array([1]));
    assert.equal(got[0], comm.size);
  },
});
add({
  name: 'CollectiveMismatch: count, op, root and kind disagreements name the ranks; the communicator survives',
  minSize: 2,
  async run(comm) {
    const last = comm.rank === comm.size - 1;
    const e = await expectCommError(
      comm.allreduce(new Float64Array(last ? 3 : 4)),
      'CollectiveMismatch',
      'count',
    );
    assert.match(e.message, /count=3/);
    assert.match(e.message, /count=4/);
    await expectCommError(
      comm.allreduce(new Float64Array(2), last ? 'max' : 'sum'),
      'CollectiveMismatch',
      'op',
    );
    await expectCommError(comm.broadcast(new Float64Array(2), last ? 1 : 0), 'CollectiveMismatch', 'root');
    await expectCommError(
      last ? comm.barrier() : comm.broadcast(new Float64Array(2)),
      'CollectiveMismatch',
      'kind',
    );
    await expectCommError(
      comm.allreduce(last ? new Float32Array(2) : new Float64Array(2)),
      'CollectiveMismatch',
      'dtype',
    );
    const got = await comm.allreduce(new Float64Array([2]));
    assert.equal(got[0], 2 * comm.size);
  },
});

add({
  name: 'CollectiveMismatch: allgatherv layouts that differ only by swapping counts and displs',
  minSize: 2,
  async run(comm) {
    // Rank 1 sees the two blocks swapped; every rank sends nothing, so every rank's own entry is valid.
    const counts = new Array<number>(comm.size).fill(0);
    const displs = new Array<number>(comm.size).fill(0);
    if (comm.rank === 1) {
      counts[0] = 2;
      displs[1] = 2;
    } else {
      counts[1] = 2;
      displs[0] = 2;
    }
    const recv = new Float64Array(4).fill(-1);
    await expectCommError(
      comm.allgatherv(new Float64Array(0), { counts, displs, recv }),
      'CollectiveMismatch',
      'swapped layout',
    );
    assert.deepEqual(Array.from(recv), [-1, -1, -1, -1], 'no data delivered on a mismatch');
    const got = await comm.allreduce(new Float64Array([1]));
    assert.equal(got[0], comm.size);
  },
});

// ---- errors: the communicator breaks (fresh worlds) ------------------------------------------
add({
  name: 'close() while a collective is in flight rejects it',
  minSize: 2,
  fresh: {},
  async run(comm) {
    await comm.barrier();
    if (comm.rank !== 0) return; // the others never join the barrier below
    const pending = comm.barrier().then(
      () => assert.fail('the barrier in flight resolved after close()'),
      (error: Error & { code?: string }) => error,
    );
    // Observed at once: close() rejects it synchronously, before this rank awaits it.
    const queued = expectCommError(comm.allreduce(new Float64Array(1)), 'InvalidCommunicator', 'queued');
    await comm.close();
    const e = await pending;
    assert.equal(e.name, 'CommError');
    assert.ok(['InvalidCommunicator', 'CollectiveFailed'].includes(e.code ?? ''), `code ${e.code}`);
    await queued;
  },
});
add({
  name: 'InvalidCommunicator: every call after close() rejects; close() is idempotent',
  fresh: {},
  async run(comm) {
    await comm.barrier();
    await comm.close();
    await comm.close();
    assert.equal(comm.closed, true);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['allreduce', () => comm.allreduce(new Float64Array(1))],
      ['allgatherv', () => comm.allgatherv(new Float64Array(1))],
      ['broadcast', () => comm.broadcast(new Float64Array(1))],
      ['barrier', () => comm.barrier()],
      ['allgather', () => comm.allgather(1)],
      ['bcast', () => comm.bcast(1)],
      ['createSharedRegion', () => comm.createSharedRegion(Float64Array, 1)],
      ['splitLocal', () => comm.splitLocal()],
    ];
    for (const [name, call] of calls) {
      const e = await expectCommError(call(), 'InvalidCommunicator', name);
      assert.match(e.message, /closed/);
    }
  },
});
add({
  name: 'CollectiveFailed: a rank that closes mid-run fails the others, naming it',
  minSize: 2,
  fresh: {},
  async run(comm) {
    await comm.barrier();
    if (comm.rank === comm.size - 1) {
      await comm.close();
      return;
    }
    const e = await expectCommError(comm.barrier(), 'CollectiveFailed', 'barrier after a peer left');
    assert.match(e.message, new RegExp(`rank ${comm.size - 1}`));
    await expectCommError(comm.allreduce(new Float64Array(1)), 'CollectiveFailed', 'later calls fail too');
  },
});
add({
  name: 'Timeout: ranks that never arrive are named',
  minSize: 2,
  fresh: { timeoutSecs: 1 },
  async run(comm) {
    await comm.barrier();
    if (comm.rank !== 0) return; // the others stay alive with an open communicator, and never call
    const e = await expectCommError(comm.barrier(), 'Timeout', 'barrier nobody joins');
    const details = (e as unknown as { details: { missing: number[]; timeoutSecs?: number } }).details;
    assert.equal(details.timeoutSecs, 1);
    assert.deepEqual(
      details.missing,
      Array.from({ length: comm.size - 1 }, (_, r) => r + 1),
    );
    assert.match(e.message, new RegExp(`ranks? ${details.missing.join(',\\s?')}`), 'the message names them');
  },
});

/** The cases of this file; all-cases.ts adds the families kept in their own files. */
export const BASE_CASES: readonly ConformanceCase[] = cases;

export function appliesTo(c: ConformanceCase, size: number): boolean {
  return size >= (c.minSize ?? 1) && size <= (c.maxSize ?? Infinity);
}
