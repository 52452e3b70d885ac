/**
 * Rank programs for the shm tests, run by rank-host.ts inside worker threads. Each asserts with
 * node:assert on its own rank; the test collects every rank's outcome.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../../src/communicator/communicator.js';
import type { CommError } from '../../../src/communicator/errors.js';

/** Barriers in the drift test (issue 3, item 9). */
export const DRIFT_BARRIERS = 100_000;
/** How quickly a failed peer must be noticed by a rank blocked in a collective. */
export const FAILURE_NOTICE_MS = 1000;
/** The rank blocked in a barrier waits this long for its partner in the CPU test. */
export const BLOCKED_MS = 1000;
/** Share of one core a rank blocked for BLOCKED_MS may use (issue 3, item 6). */
export const BLOCKED_CPU_SHARE = 0.05;
/** Elements of the large streaming allreduce: 64 MiB of float64. */
export const LARGE_ELEMENTS = 8 * 1024 * 1024;

async function rejection(promise: Promise<unknown>): Promise<CommError> {
  try {
    await promise;
  } catch (error) {
    return error as CommError;
  }
  assert.fail('expected the call to fail');
}

/** Exactly representable, so any summation order gives the same value: checks placement, not order. */
const value = (rank: number, i: number): number => (i % 4099) * 0.5 + rank * 0.25;

export const SCENARIOS: Record<string, (comm: Communicator) => Promise<void>> = {
  /**
   * Every rank writes the barrier's index into a shared region before it and checks all entries
   * after it. Each must be i (or i + 1 from a rank already past and into the next barrier); a rank
   * released early would see a stale i - 1, a rank that passed barrier i + 1 early writes i + 2.
   */
  async 'barriers without drift'(comm) {
    const seen = await comm.createSharedRegion(Int32Array, comm.size);
    for (let i = 1; i <= DRIFT_BARRIERS; i++) {
      Atomics.store(seen.data, comm.rank, i);
      await comm.barrier();
      for (let r = 0; r < comm.size; r++) {
        const v = Atomics.load(seen.data, r);
        if (v !== i && v !== i + 1) assert.fail(`barrier ${i}: rank ${r} is at ${v}`);
      }
    }
    const total = await comm.allreduce(new Float64Array([DRIFT_BARRIERS]));
    assert.equal(total[0], DRIFT_BARRIERS * comm.size);
  },

  /** The last rank's thread exits while the others wait in a barrier. */
  async 'a thread dies mid-collective'(comm) {
    const last = comm.size - 1;
    await comm.barrier();
    if (comm.rank === last) process.exit(3);
    const started = performance.now();
    const e = await rejection(comm.barrier());
    const waited = performance.now() - started;
    assert.equal(e.code, 'CollectiveFailed', e.message);
    assert.equal(e.details['rank'], last);
    assert.match(e.message, new RegExp(`rank ${last}`));
    assert.ok(waited < FAILURE_NOTICE_MS, `noticed after ${waited.toFixed(0)} ms`);
    assert.equal((await rejection(comm.allreduce(new Float64Array(1)))).code, 'CollectiveFailed');
  },

  /** Rank 0 waits BLOCKED_MS in a barrier for rank 1; the process meanwhile stays nearly idle. */
  async 'a blocked rank sleeps'(comm) {
    await comm.barrier();
    if (comm.rank === 1) {
      await new Promise((resolve) => setTimeout(resolve, BLOCKED_MS));
      await comm.barrier();
      return;
    }
    const before = process.cpuUsage();
    const t0 = performance.now();
    await comm.barrier();
    const wall = performance.now() - t0;
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    assert.ok(wall >= BLOCKED_MS * 0.9, `the barrier opened after ${wall.toFixed(0)} ms`);
    assert.ok(
      cpuMs < wall * BLOCKED_CPU_SHARE,
      `the process used ${cpuMs.toFixed(1)} ms of CPU in ${wall.toFixed(0)} ms`,
    );
  },

  /** 64 MiB streams through the 4 MiB slots in 16 chunks, reduced by disjoint ranges. */
  async 'a 64 MiB allreduce streams'(comm) {
    const send = new Float64Array(LARGE_ELEMENTS);
    for (let i = 0; i < send.length; i++) send[i] = value(comm.rank, i);
    const got = await comm.allreduce(send, 'sum', send);
    for (let i = 0; i < got.length; i++) {
      let expected = 0;
      for (let r = 0; r < comm.size; r++) expected += value(r, i);
      if (got[i] !== expected) assert.fail(`element ${i}: got ${got[i]}, expected ${expected}`);
    }
  },

  /** With 64-byte slots every collective streams through many rounds; results must not change. */
  async 'tiny slots: every collective streams'(comm) {
    const { rank, size } = comm;
    for (const n of [0, 1, 7, 8, 9, 1000, 4097]) {
      const send = Float64Array.from({ length: n }, (_, i) => value(rank, i));
      const sum = await comm.allreduce(send, 'sum');
      for (let i = 0; i < n; i++) {
        let expected = 0;
        for (let r = 0; r < size; r++) expected += value(r, i);
        assert.equal(sum[i], expected, `allreduce n=${n} element ${i}`);
      }
      const counts = Array.from({ length: size }, (_, r) => (n + r * 3) % 53);
      const mine = Float64Array.from({ length: counts[rank] as number }, (_, i) => value(rank, i));
      const gathered = await comm.allgatherv(mine, { counts });
      let at = 0;
      for (let r = 0; r < size; r++) {
        for (let i = 0; i < (counts[r] as number); i++) assert.equal(gathered[at + i], value(r, i));
        at += counts[r] as number;
      }
      const root = n % size;
      const buf =
        rank === root ? Float64Array.from({ length: n }, (_, i) => value(root, i)) : new Float64Array(n);
      await comm.broadcast(buf, root);
      for (let i = 0; i < n; i++) assert.equal(buf[i], value(root, i), `broadcast n=${n}`);
    }
    const e = await rejection(comm.allreduce(new Float64Array(rank === 0 ? 100 : 101)));
    assert.equal(e.code, 'CollectiveMismatch');
    const after = await comm.allreduce(new Float64Array(100).fill(1));
    assert.equal(after[99], size, 'the communicator survives a mismatch in a streaming collective');
  },

  /** Not a copy: a write by any rank is seen by every rank after a fence. */
  async 'shared regions are shared'(comm) {
    const region = await comm.createSharedRegion(Float64Array, 4096);
    assert.equal(region.isLeader, comm.rank === 0);
    if (region.isLeader) region.data.fill(1.5);
    await region.fence();
    assert.ok(region.data.every((x) => x === 1.5));
    await region.fence();
    if (comm.rank === comm.size - 1) region.data[4095] = 42;
    await region.fence();
    assert.equal(region.data[4095], 42);
    const local = await comm.splitLocal();
    assert.equal(local.size, comm.size);
    assert.equal(local.rank, comm.rank);
    const sum = await local.allreduce(new Int32Array([1]));
    assert.equal(sum[0], comm.size);
    await region.close();
  },
};
