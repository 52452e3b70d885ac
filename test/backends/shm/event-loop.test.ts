/**
 * A rank looping over collectives that complete synchronously still lets its event loop turn
 * (issue 11 item 12; spec/backend-shm.md §3.6): timers, signal relays and ctx.signal run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ScriptedWorld } from './scripted-world.js';

/** How often each rank's setInterval(…, 10) must fire before the loop stops. */
const TICKS = 5;
/** The loop gives up here: without yielding, the interval never fires and every call is spent. */
const MAX_CALLS = 300_000;

/** The uneven loop: calls, and the compute (ms) of the busy rank before each (more than the 10 ms interval). */
const UNEVEN_CALLS = 32;
const BUSY_MS = 15;

let world: ScriptedWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('shm: a loop of collectives yields to the event loop', () => {
  it('a setInterval fires during a loop of 8-byte allreduces on every rank', async () => {
    world = new ScriptedWorld({ size: 2, timeoutSecs: 30 });
    const w = world;
    for (const d of await w.all([0, 1], { do: 'connect', via: 'connectShm' })) expect(d.ok).toBe(true);
    const loops = await w.all([0, 1], { do: 'tick-loop', ticks: TICKS, maxCalls: MAX_CALLS });
    expect(loops.map((d) => d.error?.message)).toEqual([undefined, undefined]);
    for (const d of loops) expect(d.value).toBeGreaterThanOrEqual(TICKS);
  });

  it('a rank that blocks in every collective (its peer computes) yields after each one', async () => {
    world = new ScriptedWorld({ size: 2, timeoutSecs: 30 });
    const w = world;
    for (const d of await w.all([0, 1], { do: 'connect', via: 'connectShm' })) expect(d.ok).toBe(true);
    // Rank 1 computes BUSY_MS before each call, so rank 0 sleeps in the barrier (past the 5 ms spin) every
    // time: each such call must count as the whole clock interval, or rank 0 turns its loop once per 16.
    const loops = await w.all([0, 1], {
      do: 'uneven-loop',
      calls: UNEVEN_CALLS,
      busyRank: 1,
      busyMs: BUSY_MS,
    });
    expect(loops.map((d) => d.error?.message)).toEqual([undefined, undefined]);
    expect(loops[0]!.value).toBeGreaterThanOrEqual(UNEVEN_CALLS / 4);
  });
});
