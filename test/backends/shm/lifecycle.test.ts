/**
 * Joining and leaving (issue 11 items 2, 3, 16; spec/backend-shm.md §5.2, §5.5): a close is a
 * departure, not a failure of the group, so every rank's join succeeds in any order; a thread that
 * ends without close() departs too, and only a later collective that needs a departed rank fails,
 * naming it. No launcher aborts the group here: the ranks see all of this by themselves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectShm, createShmGroup } from '../../../src/backends/shm/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { failureOf, ScriptedWorld, type Done } from './scripted-world.js';

/** Long: a departure must be seen without waiting for it. */
const TIMEOUT_SECS = 60;
/** How soon a departure must be noticed (the spec says within 1 s; generous for a loaded box). */
const NOTICE_BOUND_MS = 5_000;
/** Fresh worlds in the close-right-after race. */
const CLOSE_RACE_ROUNDS = 4;

let world: ScriptedWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

function start(size: number, env?: Record<string, string>): ScriptedWorld {
  world = new ScriptedWorld({ size, timeoutSecs: TIMEOUT_SECS, ...(env ? { env } : {}) });
  return world;
}

function expectOk(outcomes: Done[]): void {
  expect(outcomes.filter((d) => !d.ok).map((d) => d.error?.message)).toEqual([]);
}

/** Every way to order "rank r joins" and "rank r closes" for 3 ranks, each join before its close. */
function interleavings(ranks: number): Array<Array<['join' | 'close', number]>> {
  const out: Array<Array<['join' | 'close', number]>> = [];
  const walk = (prefix: Array<['join' | 'close', number]>, joined: Set<number>, closed: Set<number>) => {
    if (closed.size === ranks) return void out.push(prefix);
    for (let r = 0; r < ranks; r++) {
      if (!joined.has(r)) walk([...prefix, ['join', r]], new Set([...joined, r]), closed);
      else if (!closed.has(r)) walk([...prefix, ['close', r]], joined, new Set([...closed, r]));
    }
  };
  walk([], new Set(), new Set());
  return out;
}

describe('shm: a close is a departure, not a group failure (item 2)', () => {
  it('every order of join and close of 3 ranks: every join succeeds', async () => {
    const orders = interleavings(3);
    expect(orders).toHaveLength(90);
    for (const order of orders) {
      const group = createShmGroup({ size: 3 });
      const comms: Communicator[] = [];
      for (const [what, rank] of order) {
        if (what === 'join') comms[rank] = await connectShm({ group: group.handle, rank, timeoutSecs: 1 });
        else await comms[rank]!.close();
      }
    }
  });

  it('3 threads that each only init() and close(): the slower ones still join (via init())', async () => {
    const w = start(3, { COLLECTIVE_TIMEOUT_SECS: String(TIMEOUT_SECS) });
    expectOk([await w.do(0, { do: 'connect', via: 'init' }), await w.do(0, { do: 'close' })]);
    expectOk(await w.all([1, 2], { do: 'connect', via: 'init' }));
    expectOk(await w.all([1, 2], { do: 'close' }));
  });

  it('a rank closed before the others joined: their collective fails naming it, without waiting', async () => {
    const w = start(3);
    expectOk([await w.do(0, { do: 'connect', via: 'connectShm' }), await w.do(0, { do: 'close' })]);
    expectOk(await w.all([1, 2], { do: 'connect', via: 'connectShm' }));
    const t0 = performance.now();
    for (const done of await w.all([1, 2], { do: 'barrier' })) {
      const e = failureOf(done);
      expect(e.code).toBe('CollectiveFailed');
      expect(e.details?.['rank']).toBe(0);
      expect(e.message).toMatch(/rank 0 closed its communicator/);
    }
    expect(performance.now() - t0).toBeLessThan(NOTICE_BOUND_MS);
  });

  it('a rank that closes while the others wait in a collective fails them, naming it', async () => {
    const w = start(3);
    expectOk(await w.all([0, 1, 2], { do: 'connect', via: 'connectShm' }));
    expectOk(await w.all([0, 1, 2], { do: 'barrier' }));
    const waiting = [w.tell(0, { do: 'barrier' }), w.tell(1, { do: 'barrier' })];
    await Promise.all(waiting.map((s) => s.started));
    expectOk([await w.do(2, { do: 'close' })]);
    for (const step of waiting) {
      const e = failureOf(await step.done);
      expect(e.code).toBe('CollectiveFailed');
      expect(e.details?.['rank']).toBe(2);
      expect(e.message).toMatch(/rank 2 closed its communicator/);
      expect(e.message).toMatch(/after collective #0 \(barrier\)/);
    }
    // And every later collective of the survivors fails the same way, at once.
    for (const done of await w.all([0, 1], { do: 'allreduce', value: 1 })) {
      expect(failureOf(done).details?.['rank']).toBe(2);
    }
  });

  it('ranks that close right after their last collective, all at once, fail nobody', async () => {
    for (let i = 0; i < CLOSE_RACE_ROUNDS; i++) {
      await world?.close();
      const w = start(3);
      expectOk(await w.all([0, 1, 2], { do: 'connect', via: 'connectShm' }));
      // Each rank closes the moment its allreduce is done; the others may still be finishing theirs.
      const closeAfter = async (rank: number): Promise<Done> => {
        const sum = await w.do(rank, { do: 'allreduce', value: rank + 1 });
        expectOk([await w.do(rank, { do: 'close' })]);
        return sum;
      };
      const sums = await Promise.all([0, 1, 2].map(closeAfter));
      expectOk(sums);
      expect(sums.map((d) => d.value)).toEqual([6, 6, 6]);
    }
  });
});

describe('shm: a thread that ends without close() departs (items 3, 16)', () => {
  for (const how of ['end', 'throw', 'exit'] as const) {
    it(`a thread that ${how === 'end' ? 'returns' : how === 'throw' ? 'throws' : 'calls process.exit(0)'} while the others wait fails them at once, naming it`, async () => {
      const w = start(3);
      expectOk(await w.all([0, 1, 2], { do: 'connect', via: 'connectShm' }));
      expectOk(await w.all([0, 1, 2], { do: 'allreduce', value: 1 }));
      const waiting = [w.tell(0, { do: 'barrier' }), w.tell(1, { do: 'barrier' })];
      await Promise.all(waiting.map((s) => s.started));
      const t0 = performance.now();
      w.tell(2, how === 'exit' ? { do: 'exit', code: 0 } : { do: how });
      for (const step of waiting) {
        const e = failureOf(await step.done);
        expect(e.code).toBe('CollectiveFailed');
        expect(e.details?.['rank']).toBe(2);
        expect(e.message).toMatch(/rank 2's thread exited without close\(\)/);
        expect(e.message).toMatch(/after collective #0 \(allreduce\)/);
      }
      expect(performance.now() - t0).toBeLessThan(NOTICE_BOUND_MS);
      // The idle communicator did not hold the thread: it ended (a throw ends it with code 1).
      expect(await w.exits[2]).toBe(how === 'throw' ? 1 : 0);
    });
  }

  it('a thread that ended before the others called anything: their first collective fails naming it', async () => {
    const w = start(2);
    expectOk(await w.all([0, 1], { do: 'connect', via: 'connectShm' }));
    w.tell(1, { do: 'end' });
    expect(await w.exits[1]).toBe(0);
    const e = failureOf(await w.do(0, { do: 'barrier' }));
    expect(e.code).toBe('CollectiveFailed');
    expect(e.details?.['rank']).toBe(1);
    expect(e.message).toMatch(/has not called a collective/);
  });

  it('idle communicators keep no thread alive', async () => {
    const w = start(3);
    expectOk(await w.all([0, 1, 2], { do: 'connect', via: 'connectShm' }));
    expectOk(await w.all([0, 1, 2], { do: 'barrier' }));
    for (let r = 0; r < 3; r++) w.tell(r, { do: 'end' });
    expect(await Promise.all(w.exits)).toEqual([0, 0, 0]);
  });
});
