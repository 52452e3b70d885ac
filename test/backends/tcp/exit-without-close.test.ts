/**
 * Lifecycle without close() (spec/backend-tcp.md §6.1): an idle or failed communicator does not keep
 * its process alive, a pending collective does, and a rank whose process ends without close() is
 * seen by the others as departed (CollectiveFailed naming it) — rank 0 included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RankChild, startRankZero, stopChildren } from './support.js';
import type { Communicator } from '../../../src/communicator/communicator.js';

/** Generous bound on "the others learn of it at once" (ms): detection is event-driven (socket close). */
const DETECTION_LIMIT_MS = 5000;
const SIZE = 3;

const children: RankChild[] = [];
let rank0: Communicator | null = null;

afterEach(async () => {
  await rank0?.close();
  rank0 = null;
  await stopChildren(children);
});

async function startGroup(scenarioOf: (rank: number) => string): Promise<RankChild[]> {
  const first = new RankChild({ rank: 0, size: SIZE, port: 0, scenario: scenarioOf(0) });
  children.push(first);
  const { port } = await first.next('listening');
  const ranks = [first];
  for (let rank = 1; rank < SIZE; rank++) {
    const child = new RankChild({ rank, size: SIZE, port, scenario: scenarioOf(rank) });
    children.push(child);
    ranks.push(child);
  }
  return ranks;
}

describe('tcp: a rank whose program ends without close()', () => {
  for (const leaver of [1, 0]) {
    for (const scenario of ['allreduce-once-return', 'return-after-init']) {
      it(`rank ${leaver} (${scenario}) exits by itself; the others' next collective fails naming it`, async () => {
        const ranks = await startGroup((r) => (r === leaver ? scenario : 'allreduce-loop'));
        await ranks[leaver]!.next('result');
        // Bounded by the test timeout: before the fix, the idle connection kept the process alive.
        expect(await ranks[leaver]!.exited).toEqual({ code: 0, signal: null });
        const exitedAt = Date.now();
        for (const [r, other] of ranks.entries()) {
          if (r === leaver) continue;
          const e = await other.next('error');
          expect(e['code']).toBe('CollectiveFailed');
          expect(e['rank']).toBe(leaver);
          expect(String(e['message'])).toMatch(new RegExp(`rank ${leaver}\\b`));
          expect((e['at'] as number) - exitedAt).toBeLessThan(DETECTION_LIMIT_MS);
          expect((await other.exited).code).toBe(0);
        }
      });
    }
  }
});

describe('tcp: a rank that catches CollectiveFailed and returns without close()', () => {
  for (const victim of [2, 0]) {
    it(`after rank ${victim} is killed, the others report the failure and exit by themselves`, async () => {
      const ranks = await startGroup((r) => (r === victim ? 'allreduce-loop' : 'loop-catch-return'));
      await Promise.all(ranks.map((r) => r.next('looping')));
      ranks[victim]!.child.kill('SIGKILL');
      for (const [r, survivor] of ranks.entries()) {
        if (r === victim) continue;
        const e = await survivor.next('error');
        expect(e['code']).toBe('CollectiveFailed');
        expect(e['rank']).toBe(victim);
        expect(await survivor.exited).toEqual({ code: 0, signal: null });
      }
    });
  }
});

it('a collective in flight keeps its process alive until it completes', async () => {
  const { port, comm } = await startRankZero(2);
  const child = new RankChild({ rank: 1, size: 2, port, scenario: 'receive-broadcast', broadcastBytes: 8 });
  children.push(child);
  rank0 = await comm;
  // The child has nothing but its pending broadcast to wait for; it must still be there to get it.
  await child.next('called');
  const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  await rank0.broadcast(data, 0);
  expect(typeof (await child.next('received'))['sha256']).toBe('string');
  expect(await child.exited).toEqual({ code: 0, signal: null });
});
