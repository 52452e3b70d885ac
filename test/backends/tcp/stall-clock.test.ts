/**
 * StallClock (spec/backend-tcp.md §7.2) driven by hand through its timing knob: a late tick (this
 * process was not running) does not count against the peers, but lateness must never hide a stall.
 */
import { expect, it } from 'vitest';
import { StallClock, TICKS_PER_TIMEOUT, type StallTiming } from '../../../src/backends/star/lifecycle.js';

const TIMEOUT_MS = 1000;
const WARNING_MS = 400;
/** The clock ticks every min(timeout, warning) / TICKS_PER_TIMEOUT (ms). */
const PERIOD_MS = WARNING_MS / TICKS_PER_TIMEOUT;
/** Each tick three periods late: far beyond scheduling jitter, so every tick counts as "not running". */
const LATE_TICK_MS = 4 * PERIOD_MS + 100;
/** More ticks than any discounting can need: timeout / period ticks of counted time, twice over. */
const MAX_TICKS = 2 * (TIMEOUT_MS / PERIOD_MS) + 4;

function manualClock(): { timing: StallTiming; advance: (ms: number) => void } {
  let now = 0;
  let tick: () => void = () => {};
  const timing: StallTiming = {
    now: () => now,
    every: (_ms, fn) => {
      tick = fn;
      return { stop: () => (tick = () => {}) };
    },
  };
  return {
    timing,
    advance: (ms) => {
      now += ms;
      tick();
    },
  };
}

it('warns and times out a frozen peer even when every tick is late', () => {
  const { timing, advance } = manualClock();
  const calls: boolean[] = [];
  const clock = new StallClock(TIMEOUT_MS, WARNING_MS, (_, fatal) => (calls.push(fatal), true), timing);
  let ticks = 0;
  while (!calls.includes(true) && ticks < MAX_TICKS) {
    advance(LATE_TICK_MS);
    ticks++;
  }
  clock.stop();
  expect(calls).toContain(false);
  expect(calls).toContain(true);
  // The lateness was discounted: the timeout took more wall time than TIMEOUT_MS.
  expect(ticks * LATE_TICK_MS).toBeGreaterThan(TIMEOUT_MS);
});

it('skips the check on the first late tick (frames may wait unread) and checks on the next', () => {
  const { timing, advance } = manualClock();
  const calls: Array<[number, boolean]> = [];
  const clock = new StallClock(TIMEOUT_MS, 0, (ms, fatal) => (calls.push([ms, fatal]), true), timing);
  // On-time ticks up to just short of the timeout.
  for (let t = PERIOD_MS; t < TIMEOUT_MS; t += PERIOD_MS) advance(PERIOD_MS);
  expect(calls).toEqual([]);
  // Stopped for a long time: that tick does not judge the peers.
  advance(10 * TIMEOUT_MS);
  expect(calls).toEqual([]);
  // The tick after it, on time, does: the stall counts only the time this process ran.
  advance(PERIOD_MS);
  clock.stop();
  expect(calls.length).toBe(1);
  expect(calls[0]?.[1]).toBe(true);
  expect(calls[0]?.[0]).toBeLessThan(2 * TIMEOUT_MS);
});
