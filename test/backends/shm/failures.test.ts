/**
 * shm-specific behaviour beyond the conformance suite: a dying thread, a sleeping waiter's CPU use,
 * 100,000 barriers without drift, streaming (64 MiB, and every collective through 64-byte slots),
 * true shared regions. Ranks are real worker threads joined to one shm group.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RankOutcome } from '../../conformance/world.js';
import { ThreadWorld } from './thread-world.js';

const TIMEOUT_SECS = 30;
let world: ThreadWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

function expectOk(outcomes: RankOutcome[]): void {
  const failed = outcomes
    .filter((o) => !o.ok)
    .map((o) => `rank ${o.rank}: ${o.error?.message}\n${o.error?.stack}`);
  expect(failed.join('\n\n')).toBe('');
}

async function run(name: string, size: number, dataBytes?: number, ranks?: number[]): Promise<RankOutcome[]> {
  world = await ThreadWorld.start(
    dataBytes === undefined
      ? { size, timeoutSecs: TIMEOUT_SECS }
      : { size, timeoutSecs: TIMEOUT_SECS, dataBytes },
  );
  return world.scenario(name, ranks);
}

describe('shm backend in worker threads', () => {
  it('a thread that dies mid-collective fails the others within 1 s, naming it', async () => {
    const outcomes = await run('a thread dies mid-collective', 3);
    expectOk(outcomes.filter((o) => o.rank !== 2));
    expect(outcomes.find((o) => o.rank === 2)?.error?.message).toMatch(/exited with code 3/);
  });

  it('a rank blocked in a barrier for 1 s uses under 5% of a core', async () => {
    expectOk(await run('a blocked rank sleeps', 2));
  });

  it('100,000 back-to-back barriers without drift', async () => {
    expectOk(await run('barriers without drift', 2));
  }, 120_000);

  it('a 64 MiB allreduce streams through the data region', async () => {
    expectOk(await run('a 64 MiB allreduce streams', 2));
  }, 120_000);

  it('every collective streams through 64-byte slots, odd counts and a mismatch included', async () => {
    expectOk(await run('tiny slots: every collective streams', 3, 2 * 3 * 64));
  });

  it('shared regions are one memory: any rank’s write is seen by all after fence()', async () => {
    expectOk(await run('shared regions are shared', 4));
  });
});
