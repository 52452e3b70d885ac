/**
 * Re-joining a shm group (spec/backend-shm.md §5.6), on the main thread where two ranks of one group
 * can share a thread (Atomics.waitAsync): a rank that closed joins the next generation once every
 * rank has closed; the next generation computes correctly (data, counters, regions); a re-join whose
 * peers never close fails naming them; an open communicator cannot join twice; a splitLocal
 * communicator of an ended generation runs nothing; a failed group stays failed. A rank whose thread
 * has ended is gone for good (real threads, ScriptedWorld): it can never join a later generation,
 * so the ranks that do fail at once naming it instead of waiting for the fatal timeout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectShm, createShmGroup } from '../../../src/backends/shm/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BackendError, CommError } from '../../../src/communicator/errors.js';
import { failureOf, ScriptedWorld } from './scripted-world.js';
import { codes, recordWarnings, warningsDelivered } from '../../support/warnings.js';

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

  it('a re-join that waits warns, naming the waiting rank and the rank still open', async () => {
    const { handle } = createShmGroup({ size: 2 });
    const [a, b] = [await join(handle, 0), await join(handle, 1)];
    await a.close();
    // Recorded, not printed: the warning repeats every 0.05 s until rank 1 closes.
    const warnings = recordWarnings();
    try {
      const warned = new Promise<string>((resolve) => {
        const listener = (w: Error): void => {
          if (w.name !== 'CollectiveWarning') return;
          process.off('warning', listener);
          resolve(w.message);
        };
        process.on('warning', listener);
      });
      const again = connectShm({ group: handle, rank: 0, timeoutSecs: 10, stallWarningSecs: 0.05 });
      expect(await warned).toMatch(
        /^shm rank 0: init\(\): waiting \d+\.\d s for rank 1 \(its communicator is still open\) of generation 0/,
      );
      await b.close();
      await (await again).close();
      await warningsDelivered();
      expect(new Set(codes(warnings.take()))).toEqual(new Set(['COLLECTIVE_STALL']));
    } finally {
      warnings.stop();
    }
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

/** Long, so a rank that waits for a gone rank's arrival shows as a wrong error (Timeout), not a pass. */
const GONE_TIMEOUT_SECS = 20;

describe('shm: a rank whose thread ended is gone for good, in every later generation', () => {
  let world: ScriptedWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  async function generationZero(size: number): Promise<ScriptedWorld> {
    world = new ScriptedWorld({ size, timeoutSecs: GONE_TIMEOUT_SECS, stallWarningSecs: 0 });
    const ranks = Array.from({ length: size }, (_, r) => r);
    for (const d of await world.all(ranks, { do: 'connect', via: 'connectShm' })) expect(d.ok).toBe(true);
    for (const d of await world.all(ranks, { do: 'allreduce', value: 1 })) expect(d.value).toBe(size);
    return world;
  }

  function expectGone(done: Awaited<ReturnType<ScriptedWorld['do']>>, rank: number): void {
    const e = failureOf(done);
    expect([e.code, e.details?.['rank']]).toEqual(['CollectiveFailed', rank]);
    expect(e.message).toMatch(new RegExp(`rank ${rank}'s thread exited`));
  }

  it('ended before the re-join: the re-joined rank joins, and its first collective fails naming it', async () => {
    const w = await generationZero(2);
    expect((await w.do(1, { do: 'close' })).ok).toBe(true);
    await w.do(1, { do: 'end' });
    expect(await w.exits[1]).toBe(0);
    // Rank 0 is the last to close generation 0: it joins generation 1 at once.
    expect((await w.do(0, { do: 'close' })).ok).toBe(true);
    expect((await w.do(0, { do: 'connect', via: 'connectShm' })).ok).toBe(true);
    expectGone(await w.do(0, { do: 'allreduce', value: 1 }), 1);
    // Nor can another thread take the ended rank's place.
    const e = (await caught(join(w.group.handle, 1))) as BackendError;
    expect([e.kind, e.context['rank']]).toEqual(['InitializationFailed', 1]);
    expect(e.message).toMatch(/rank 1's thread exited/);
  });

  it('ended while the re-joined rank waits in a collective: the wait fails naming it', async () => {
    const w = await generationZero(2);
    for (const d of await w.all([0, 1], { do: 'close' })) expect(d.ok).toBe(true);
    expect((await w.do(0, { do: 'connect', via: 'connectShm' })).ok).toBe(true);
    const waiting = w.tell(0, { do: 'allreduce', value: 1 });
    await waiting.started;
    await w.do(1, { do: 'end' });
    expectGone(await waiting.done, 1);
  });

  it('ended while a rank waits to re-join: the re-join wait fails naming it', async () => {
    const w = await generationZero(3);
    expect((await w.do(0, { do: 'close' })).ok).toBe(true);
    const rejoin = w.tell(0, { do: 'connect', via: 'connectShm' });
    await rejoin.started;
    // Rank 1's thread ends without close(): it departs generation 0 and can never join generation 1.
    await w.do(1, { do: 'end' });
    expect(await w.exits[1]).toBe(0);
    expectGone(await rejoin.done, 1);
    // Rank 2, still in generation 0, fails naming the first to depart (rank 0 closed).
    expect(failureOf(await w.do(2, { do: 'barrier' })).details?.['rank']).toBe(0);
  });
});
