/**
 * The direct algorithms with ranks as separate processes (spec/backend-tcp.md §13): each rank belongs
 * to a star group and a direct group of the same processes and finds the direct results bit-identical
 * to the star's (fixtures/direct-vs-star.ts); and failure semantics (§13.7): a rank killed with SIGKILL while the group loops on a direct allreduce fails every other
 * rank's call with CollectiveFailed naming it, within the contract's bound, and the survivors close
 * and exit on their own (no hang, no unhandled rejection: a child that had one would exit non-zero).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { RankChild, stopChildren } from './support.js';

const VERSUS_STAR = fileURLToPath(new URL('./fixtures/direct-vs-star.ts', import.meta.url));

/** The contract: every other rank learns of a dead peer within this long (ms). */
const DETECTION_LIMIT_MS = 1000;
const SIZE = 3;

const children: RankChild[] = [];

afterEach(async () => {
  await stopChildren(children);
});

async function startGroup(size: number): Promise<RankChild[]> {
  const args = { size, scenario: 'allreduce-loop', algorithm: 'direct' };
  const rank0 = new RankChild({ ...args, rank: 0, port: 0 });
  children.push(rank0);
  const { port } = await rank0.next('listening');
  const ranks = [rank0];
  for (let rank = 1; rank < size; rank++) {
    const child = new RankChild({ ...args, rank, port });
    children.push(child);
    ranks.push(child);
  }
  return ranks;
}

describe('tcp direct algorithms in separate processes', () => {
  // 2: the broadcast's whole-buffer case; 5: odd and prime (3 and 4 run in process in direct-algorithms.test.ts).
  for (const size of [2, 5]) {
    it(`${size} ranks: allreduce, allgatherv and broadcast give the star's bits`, async () => {
      const rank0 = new RankChild({ rank: 0, size, starPort: 0, directPort: 0 }, VERSUS_STAR);
      children.push(rank0);
      const listening = await rank0.count('listening', 2);
      const portOf = (algorithm: string): number =>
        listening.find((l) => l['algorithm'] === algorithm)!['port'] as number;
      const ranks = [rank0];
      for (let rank = 1; rank < size; rank++) {
        const child = new RankChild(
          { rank, size, starPort: portOf('star'), directPort: portOf('direct') },
          VERSUS_STAR,
        );
        children.push(child);
        ranks.push(child);
      }
      const results = await Promise.all(ranks.map((r) => r.next('result')));
      for (const result of results) {
        expect(result['differing']).toEqual([]);
        expect(result['compared'] as number).toBeGreaterThan(300);
        expect(result['posted'] as number).toBeGreaterThan(0);
      }
      for (const r of ranks) expect((await r.exited).code).toBe(0);
    });
  }
});

describe('tcp direct allreduce: a rank that dies', () => {
  for (const victim of [2, 1, 0]) {
    it(`SIGKILL of rank ${victim} mid-call fails every other rank with CollectiveFailed within 1 s`, async () => {
      const ranks = await startGroup(SIZE);
      const looping = await Promise.all(ranks.map((r) => r.next('looping')));
      // The loop runs on the direct path: its data went out as pair-channel messages.
      for (const l of looping) expect(l['posted'] as number).toBeGreaterThan(0);
      const killedAt = Date.now();
      ranks[victim]!.child.kill('SIGKILL');
      const survivors = ranks.filter((_, r) => r !== victim);
      const errors = await Promise.all(survivors.map((r) => r.next('error')));
      for (const e of errors) {
        expect(e['code']).toBe('CollectiveFailed');
        expect(String(e['message'])).toMatch(new RegExp(`rank ${victim}`));
        expect((e['at'] as number) - killedAt).toBeLessThan(DETECTION_LIMIT_MS);
      }
      for (const r of survivors) expect((await r.exited).code).toBe(0);
    });
  }
});
