/**
 * Failure semantics of the direct algorithms (spec/backend-tcp.md §13.7), ranks as separate
 * processes: a rank killed with SIGKILL while the group loops on a direct allreduce fails every other
 * rank's call with CollectiveFailed naming it, within the contract's bound, and the survivors close
 * and exit on their own (no hang, no unhandled rejection: a child that had one would exit non-zero).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RankChild, stopChildren } from './support.js';

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
