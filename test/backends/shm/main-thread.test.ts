/**
 * Joining and the main-thread path. Communicators joined on the main thread never block its event
 * loop: a barrier that does not open within the spin budget is awaited with Atomics.waitAsync, so
 * two ranks of one group can even live on the same thread, as they do here.
 */
import { describe, expect, it } from 'vitest';
import {
  connectShm,
  createShmGroup,
  isShmGroupHandle,
  SHM_WORKER_DATA_KEY,
} from '../../../src/backends/shm/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BackendError, CommError } from '../../../src/communicator/errors.js';
import * as publicApi from '../../../src/index.js';

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function pair(timeoutSecs = 10, dataBytes?: number): Promise<[Communicator, Communicator]> {
  const group = createShmGroup(dataBytes === undefined ? { size: 2 } : { size: 2, dataBytes });
  return [
    await connectShm({ group: group.handle, rank: 0, timeoutSecs }),
    await connectShm({ group: group.handle, rank: 1, timeoutSecs }),
  ];
}

describe('shm groups and joining', () => {
  it('is exported publicly', () => {
    expect(publicApi.createShmGroup).toBe(createShmGroup);
    expect(publicApi.SHM_WORKER_DATA_KEY).toBe(SHM_WORKER_DATA_KEY);
    expect(SHM_WORKER_DATA_KEY).toBe('__collectiveShm');
  });

  it('createShmGroup rejects a bad size or data region, naming the value', () => {
    for (const size of [0, -1, 1.5, NaN, 5000, '2']) {
      const e = (() => {
        try {
          createShmGroup({ size: size as number });
        } catch (error) {
          return error as BackendError;
        }
        throw new Error(`size ${String(size)} was accepted`);
      })();
      expect(e).toBeInstanceOf(BackendError);
      expect(e.kind).toBe('IncompatibleSettings');
      expect(e.message).toContain(String(size));
    }
    expect(() => createShmGroup({ size: 4, dataBytes: 100 })).toThrow(/dataBytes must be an integer ≥ 512/);
  });

  it('the handle is recognised and survives structured cloning', () => {
    const group = createShmGroup({ size: 3 });
    expect(isShmGroupHandle(group.handle)).toBe(true);
    expect(isShmGroupHandle(structuredClone(group.handle))).toBe(true);
    expect(isShmGroupHandle({ size: 3 })).toBe(false);
    expect(isShmGroupHandle(null)).toBe(false);
  });

  it('connectShm validates the handle, rank and timeout, and rejects a second join of a rank', async () => {
    const group = createShmGroup({ size: 2 });
    const bad = async (options: unknown, pattern: RegExp): Promise<void> => {
      const e = (await caught(connectShm(options as never))) as BackendError;
      expect(e).toBeInstanceOf(BackendError);
      expect(e.kind).toBe('IncompatibleSettings');
      expect(e.message).toMatch(pattern);
    };
    await bad({ group: {}, rank: 0, timeoutSecs: 1 }, /not a shm group handle/);
    await bad({ group: group.handle, rank: 2, timeoutSecs: 1 }, /rank must be an integer in \[0, 1\].*got 2/);
    await bad({ group: group.handle, rank: -1, timeoutSecs: 1 }, /got -1/);
    await bad({ group: group.handle, rank: 0.5, timeoutSecs: 1 }, /got 0.5/);
    await bad({ group: group.handle, rank: 0, timeoutSecs: 0 }, /timeoutSecs must be a positive number/);
    const first = await connectShm({ group: group.handle, rank: 0, timeoutSecs: 1 });
    await bad({ group: group.handle, rank: 0, timeoutSecs: 1 }, /rank 0 has already joined/);
    await first.close();
  });

  it('joining a group that already failed is refused', async () => {
    const group = createShmGroup({ size: 2 });
    group.abort(1, 'rank 1 crashed');
    const e = (await caught(connectShm({ group: group.handle, rank: 0, timeoutSecs: 1 }))) as BackendError;
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(/rank 1 crashed/);
  });
});

describe('shm on the main thread (Atomics.waitAsync)', () => {
  it('a size-1 group completes every collective', async () => {
    const group = createShmGroup({ size: 1 });
    const comm = await connectShm({ group: group.handle, rank: 0, timeoutSecs: 1 });
    expect(Array.from(await comm.allreduce(new Float64Array([1, 2])))).toEqual([1, 2]);
    expect(await comm.allgather('x')).toEqual(['x']);
    await comm.barrier();
    await comm.close();
  });

  it('two ranks on one thread: collectives resume after waitAsync, streaming included', async () => {
    const [a, b] = await pair(10, 2 * 2 * 64);
    const n = 1001;
    const results = await Promise.all([
      a.allreduce(Float64Array.from({ length: n }, (_, i) => i)),
      b.allreduce(Float64Array.from({ length: n }, (_, i) => 2 * i)),
    ]);
    for (const r of results) expect(r.every((x, i) => x === 3 * i)).toBe(true);
    const [ga, gb] = await Promise.all([a.allgather({ r: 0 }), b.allgather({ r: 1 })]);
    expect(ga).toEqual([{ r: 0 }, { r: 1 }]);
    expect(gb).toEqual(ga);
    const [ra, rb] = await Promise.all([
      a.createSharedRegion(Int32Array, 8),
      b.createSharedRegion(Int32Array, 8),
    ]);
    ra.data[3] = 7;
    expect(rb.data[3]).toBe(7);
    await Promise.all([a.close(), b.close()]);
  });

  it('Timeout names the rank that never arrived; closing mid-wait fails the other rank', async () => {
    const [a, b] = await pair(0.3);
    const started = performance.now();
    const e = (await caught(a.barrier())) as CommError;
    expect(e.code).toBe('Timeout');
    expect(e.details['missing']).toEqual([1]);
    expect(e.message).toMatch(/rank 1 never arrived/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    // The group gave up on the silent rank: its own late call fails, naming it (not the healthy rank 0).
    const f = (await caught(b.barrier())) as CommError;
    expect(f.code).toBe('CollectiveFailed');
    expect(f.details['rank']).toBe(1);
    expect(f.message).toMatch(/gave up waiting for rank 1/);

    const [c, d] = await pair(10);
    const pending = c.barrier();
    await d.close();
    const g = (await caught(pending)) as CommError;
    expect(g.code).toBe('CollectiveFailed');
    expect(g.message).toMatch(/rank 1 closed its communicator/);
    await c.close();
  });
});
