/**
 * What keeps every rank's barrier count and counters in step: one order for all collectives of a
 * rank (its communicators, their splitLocal() ones and region fences), a group that fails loudly
 * when a rank leaves a barrier half-counted, a bounded wait for an abort's reason, handles checked
 * against their layout, 0-based sequence numbers. Two ranks share the main thread, so each test
 * decides exactly which calls are in flight.
 */
import { describe, expect, it } from 'vitest';
import { connectShm, createShmGroup } from '../../../src/backends/shm/index.js';
import { Barrier } from '../../../src/backends/shm/barrier.js';
import { controlLayout, W, type ShmGroupHandle } from '../../../src/backends/shm/group.js';
import { Presence } from '../../../src/backends/shm/presence.js';
import { RegionChannel } from '../../../src/backends/shm/shared-region.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BackendError, CommError } from '../../../src/communicator/errors.js';

/** Short enough that a wrongly paired barrier fails the test quickly instead of hanging it. */
const TIMEOUT_SECS = 2;

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function pair(): Promise<[Communicator, Communicator]> {
  const group = createShmGroup({ size: 2 });
  return [
    await connectShm({ group: group.handle, rank: 0, timeoutSecs: TIMEOUT_SECS }),
    await connectShm({ group: group.handle, rank: 1, timeoutSecs: TIMEOUT_SECS }),
  ];
}

describe('shm: one order for every collective of a rank', () => {
  it('a splitLocal() collective started while the parent’s waits pairs with the peer’s second call', async () => {
    const [a, b] = await pair();
    const [la, lb] = await Promise.all([a.splitLocal(), b.splitLocal()]);
    // Rank 0 starts both before rank 1 arrives: its parent's call waits (waitAsync) meanwhile.
    const first = a.allreduce(new Float64Array([1]));
    const second = la.allreduce(new Float64Array([10]));
    const peerFirst = b.allreduce(new Float64Array([100]));
    const peerSecond = lb.allreduce(new Float64Array([1000]));
    const sums = await Promise.all([first, second, peerFirst, peerSecond]);
    expect(sums.map((s) => s[0])).toEqual([101, 1010, 101, 1010]);
    await Promise.all([a.close(), b.close()]);
  });

  it('a fence started while a barrier waits runs after it; fence against barrier() is a mismatch', async () => {
    const [a, b] = await pair();
    const [ra, rb] = await Promise.all([
      a.createSharedRegion(Int32Array, 4),
      b.createSharedRegion(Int32Array, 4),
    ]);
    const barrier = a.barrier();
    const fence = ra.fence();
    await Promise.all([barrier, fence, b.barrier(), rb.fence()]);

    const [fenced, barred] = await Promise.all([caught(ra.fence()), caught(b.barrier())]);
    for (const e of [fenced as CommError, barred as CommError]) {
      expect(e.code).toBe('CollectiveMismatch');
      expect(e.message).toMatch(/called fence\(\)/);
      expect(e.message).toMatch(/called barrier\(\)/);
    }
    // Mismatches leave the group usable.
    await Promise.all([ra.fence(), rb.fence()]);
    await Promise.all([a.close(), b.close()]);
  });

  it('regions created at once by a communicator and its splitLocal() one pair up in call order', async () => {
    const [a, b] = await pair();
    const [la, lb] = await Promise.all([a.splitLocal(), b.splitLocal()]);
    const [ints, floats, peerInts, peerFloats] = await Promise.all([
      a.createSharedRegion(Int32Array, 4),
      la.createSharedRegion(Float64Array, 2),
      b.createSharedRegion(Int32Array, 4),
      lb.createSharedRegion(Float64Array, 2),
    ]);
    ints.data[3] = 7;
    floats.data[1] = 0.5;
    expect(peerInts.data[3]).toBe(7);
    expect(peerFloats.data[1]).toBe(0.5);
    await Promise.all([a.close(), b.close()]);
  });

  it('closing a splitLocal() communicator while its collective waits fails the group for the peer', async () => {
    const [a, b] = await pair();
    const [la] = await Promise.all([a.splitLocal(), b.splitLocal()]);
    const pending = la.barrier();
    await la.close();
    expect(((await caught(pending)) as CommError).code).toBe('InvalidCommunicator');
    // Rank 0's arrival was counted: without the abort rank 1's barrier would open without it.
    const e = (await caught(b.barrier())) as CommError;
    expect(e.code).toBe('CollectiveFailed');
    expect(e.details['rank']).toBe(0);
    expect(e.message).toMatch(/rank 0 closed a communicator/);
    await Promise.all([a.close(), b.close()]);
  });

  it('a splitLocal() collective queued behind the parent’s rejects at once when the split closes', async () => {
    const [a, b] = await pair();
    const [la] = await Promise.all([a.splitLocal(), b.splitLocal()]);
    const parent = a.barrier();
    const queued = la.barrier();
    await la.close();
    expect(((await caught(queued)) as CommError).code).toBe('InvalidCommunicator');
    // It never arrived anywhere: the parent's barrier still pairs with rank 1's.
    await Promise.all([parent, b.barrier()]);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('shm: failures and handles', () => {
  it('an abort whose writer stopped before recording a reason is reported, not spun on', async () => {
    const group = createShmGroup({ size: 2 });
    const a = await connectShm({ group: group.handle, rank: 0, timeoutSecs: TIMEOUT_SECS });
    // What a thread terminated between abortGroup's reservation and its final store leaves behind.
    Atomics.store(new Int32Array(group.handle.control), W.ABORT, -1);
    const e = (await caught(a.barrier())) as CommError;
    expect(e.code).toBe('CollectiveFailed');
    expect(e.details['rank']).toBe(-1);
    expect(e.message).toMatch(/reason unknown/);
    await a.close();
  });

  it('connectShm checks the handle’s buffers against the layout for its size', async () => {
    const size = 2;
    const fresh = (): ShmGroupHandle => createShmGroup({ size, dataBytes: 2 * size * 128 }).handle;
    const refused = async (handle: ShmGroupHandle, pattern: RegExp): Promise<void> => {
      const e = (await caught(connectShm({ group: handle, rank: 0, timeoutSecs: 1 }))) as BackendError;
      expect(e).toBeInstanceOf(BackendError);
      expect(e.kind).toBe('IncompatibleSettings');
      expect(e.message).toMatch(pattern);
    };
    const h = fresh();
    const header = new Int32Array(h.control).slice(0, W.JOINED);
    const shortControl = new SharedArrayBuffer(controlLayout(size).bytes - 4);
    new Int32Array(shortControl).set(header);
    await refused({ ...h, control: shortControl }, /control region is \d+ B.*needs \d+ B/);

    await refused(
      { ...fresh(), memory: null, data: new SharedArrayBuffer(2 * size * 128 - 64) },
      /data region/,
    );

    for (const slotBytes of [100, 0, -64]) {
      const bad = fresh();
      new Int32Array(bad.control)[W.SLOT_BYTES] = slotBytes;
      await refused(bad, new RegExp(`slot size is ${slotBytes} B.*multiple of 64`));
    }
  });

  it('sequence numbers are 0-based: a mismatch on a fresh group’s first collective is #0', async () => {
    const [a, b] = await pair();
    const errors = await Promise.all([
      caught(a.allreduce(new Float64Array(1))),
      caught(b.allreduce(new Float64Array(2))),
    ]);
    for (const e of errors as unknown as CommError[]) {
      expect(e.code).toBe('CollectiveMismatch');
      expect(e.details['sequence']).toBe(0);
    }
    const second = await Promise.all([caught(a.barrier()), caught(b.allreduce(new Float64Array(1)))]);
    for (const e of second) expect((e as CommError).details['sequence']).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a region announcement nobody waits for any more is dropped, not kept', async () => {
    const name = `collective-shm-test-${process.pid}`;
    const leader = new RegionChannel(name);
    const follower = new RegionChannel(name);
    const group = createShmGroup({ size: 1 });
    const words = new Int32Array(group.handle.control);
    const barrier = new Barrier(words, {
      rank: 0,
      size: 1,
      timeoutSecs: 0.01,
      stallWarningSecs: 0,
      spin: 'off',
      cores: 1,
      arrivedWord: controlLayout(1).arrived,
      presence: new Presence(words, 1, controlLayout(1).arrived, 0),
      warn: () => {},
    });
    expect(((await caught(follower.receive(1, barrier, 0.01))) as CommError).code).toBe('Timeout');
    leader.announce({ sequence: 1, error: 'late' });
    leader.announce({ sequence: 2, error: 'next' });
    // Messages arrive in order: once 2 is here, 1 has been handled.
    expect(await follower.receive(2, barrier, TIMEOUT_SECS)).toEqual({ sequence: 2, error: 'next' });
    expect(follower.kept).toBe(0);
    leader.close();
    follower.close();
  });
});
