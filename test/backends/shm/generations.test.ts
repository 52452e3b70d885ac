/**
 * Re-joining a shm group (spec/backend-shm.md §5.6), on the main thread where two ranks of one group
 * can share a thread (Atomics.waitAsync): a rank that closed joins the next generation once every
 * rank has closed; the next generation computes correctly (data, counters, regions); a re-join whose
 * peers never close fails naming them; an open communicator cannot join twice; a splitLocal
 * communicator of an ended generation runs nothing; a failed group stays failed.
 */
import { describe, expect, it } from 'vitest';
import { connectShm, createShmGroup } from '../../../src/backends/shm/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BackendError, CommError } from '../../../src/communicator/errors.js';

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

type Handle = ReturnType<typeof createShmGroup>['handle'];
const join = (group: Handle, rank: number, timeoutSecs = 10): Promise<Communicator> =>
  connectShm({ group, rank, timeoutSecs, stallWarningSecs: 0 });

async function sums(comms: Communicator[], round: number): Promise<number[]> {
  const out = await Promise.all(comms.map((c) => c.allreduce(Float64Array.of(c.rank + 1 + round))));
  return out.map((r) => r[0] as number);
}

describe('shm: joining the next generation', () => {
  it('three rounds of join, allreduce, region, close give correct results', async () => {
    const { handle } = createShmGroup({ size: 2 });
    for (let round = 0; round < 3; round++) {
      const comms = [await join(handle, 0), await join(handle, 1)];
      expect(await sums(comms, round)).toEqual([3 + 2 * round, 3 + 2 * round]);
      const regions = await Promise.all(comms.map((c) => c.createSharedRegion(Int32Array, 4)));
      if (regions[0]!.isLeader) regions[0]!.data.fill(round + 7);
      await Promise.all(regions.map((r) => r.fence()));
      expect(Array.from(regions[1]!.data)).toEqual([round + 7, round + 7, round + 7, round + 7]);
      await Promise.all(comms.map((c) => c.close()));
    }
  });

  it('a rank that closed first joins once the last rank closes, not before', async () => {
    const { handle } = createShmGroup({ size: 2 });
    const [a, b] = [await join(handle, 0), await join(handle, 1)];
    await sums([a, b], 0);
    await a.close();
    let joined = false;
    const again = join(handle, 0).then((c) => ((joined = true), c));
    await new Promise((resolve) => setImmediate(resolve));
    expect(joined).toBe(false);
    // b, still in the first generation, sees rank 0 departed (it closed), not a group of the next one.
    const e = (await caught(b.barrier())) as CommError;
    expect([e.code, e.details?.['rank']]).toEqual(['CollectiveFailed', 0]);
    await b.close();
    const a2 = await again;
    const b2 = await join(handle, 1);
    expect(await sums([a2, b2], 1)).toEqual([5, 5]);
    await Promise.all([a2.close(), b2.close()]);
  });

  it('a re-join whose peer never closes fails after the timeout, naming that rank', async () => {
    const { handle } = createShmGroup({ size: 3 });
    const comms = [await join(handle, 0), await join(handle, 1)];
    await comms[0]!.close();
    const e = (await caught(join(handle, 0, 0.3))) as BackendError;
    expect(e).toBeInstanceOf(BackendError);
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(/rank 1 \(its communicator is still open\)/);
    expect(e.message).toMatch(/rank 2 \(has not called init\(\) in it yet\)/);
    expect(e.context['waitingFor']).toEqual([1, 2]);
    await comms[1]!.close();
  });

  it('an open communicator cannot join again', async () => {
    const { handle } = createShmGroup({ size: 1 });
    const comm = await join(handle, 0);
    const e = (await caught(join(handle, 0))) as BackendError;
    expect(e.kind).toBe('IncompatibleSettings');
    expect(e.message).toMatch(/still open/);
    await comm.close();
    await (await join(handle, 0)).close();
  });

  it('a splitLocal communicator of an ended generation runs nothing, and does not fail the next', async () => {
    const { handle } = createShmGroup({ size: 2 });
    const [a, b] = [await join(handle, 0), await join(handle, 1)];
    const split = await a.splitLocal();
    await Promise.all([a.close(), b.close()]);
    const [a2, b2] = [await join(handle, 0), await join(handle, 1)];
    const e = (await caught(split.barrier())) as CommError;
    expect(e.code).toBe('InvalidCommunicator');
    expect(await sums([a2, b2], 1)).toEqual([5, 5]);
    await Promise.all([a2.close(), b2.close(), split.close()]);
  });

  it('a failed group cannot be joined again, by a waiting rank either', async () => {
    const group = createShmGroup({ size: 2 });
    const [a, b] = [await join(group.handle, 0), await join(group.handle, 1)];
    await a.close();
    const waiting = caught(join(group.handle, 0));
    group.abort(1, 'rank 1 crashed');
    const e = (await waiting) as BackendError;
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(/rank 1 crashed/);
    await b.close();
    expect(((await caught(join(group.handle, 0))) as BackendError).kind).toBe('InitializationFailed');
  });
});
