/**
 * Failure semantics with ranks as separate processes (spec/backend-tcp.md §7): a rank killed with
 * SIGKILL mid-allreduce, or exiting without closing, fails every other rank's collective with
 * CollectiveFailed naming it within 1 s; a process that closes its communicator exits on its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RankChild, stopChildren } from './support.js';

/** The contract: every other rank learns of a dead peer within this long (ms). */
const DETECTION_LIMIT_MS = 1000;
/** A closed rank's process must be gone within this long (ms); beyond it, something keeps it alive. */
const EXIT_LIMIT_MS = 15_000;

const children: RankChild[] = [];

afterEach(async () => {
  await stopChildren(children);
});

async function startGroup(
  size: number,
  scenario: string,
  scenarioOf: Record<number, string> = {},
): Promise<RankChild[]> {
  const rank0 = new RankChild({ rank: 0, size, port: 0, scenario: scenarioOf[0] ?? scenario });
  children.push(rank0);
  const { port } = await rank0.next('listening');
  const ranks = [rank0];
  for (let rank = 1; rank < size; rank++) {
    const child = new RankChild({ rank, size, port, scenario: scenarioOf[rank] ?? scenario });
    children.push(child);
    ranks.push(child);
  }
  return ranks;
}

describe('tcp: a rank that dies', () => {
  for (const victim of [2, 0]) {
    it(`SIGKILL of rank ${victim} mid-allreduce fails every other rank within 1 s, naming it`, async () => {
      const ranks = await startGroup(3, 'allreduce-loop');
      await Promise.all(ranks.map((r) => r.next('looping')));
      const killedAt = Date.now();
      ranks[victim]!.child.kill('SIGKILL');
      const survivors = ranks.filter((_, r) => r !== victim);
      const errors = await Promise.all(survivors.map((r) => r.next('error')));
      for (const e of errors) {
        expect(e['code']).toBe('CollectiveFailed');
        expect(e['rank']).toBe(victim);
        expect(String(e['message'])).toMatch(new RegExp(`rank ${victim}`));
        expect((e['at'] as number) - killedAt).toBeLessThan(DETECTION_LIMIT_MS);
      }
      // The survivors close and leave on their own.
      for (const r of survivors) expect((await r.exited).code).toBe(0);
    });
  }

  it('a rank that exits without closing fails the others, naming it', async () => {
    const ranks = await startGroup(3, 'allreduce-loop', { 1: 'exit-abruptly' });
    await Promise.all(ranks.map((r) => r.next('looping')));
    const exited = await ranks[1]!.exited;
    const exitedAt = Date.now();
    expect(exited.code).toBe(0);
    for (const r of [ranks[0]!, ranks[2]!]) {
      const e = await r.next('error');
      expect(e['code']).toBe('CollectiveFailed');
      expect(e['rank']).toBe(1);
      expect((e['at'] as number) - exitedAt).toBeLessThan(DETECTION_LIMIT_MS);
    }
  });
});

describe('tcp: close leaves nothing behind', () => {
  it('every rank of a closed group exits by itself, with no sockets or timers left', async () => {
    const ranks = await startGroup(3, 'close-and-exit');
    const started = Date.now();
    const closed = await Promise.all(ranks.map((r) => r.next('closed')));
    for (const c of closed) {
      const resources = c['resources'] as string[];
      expect(
        resources.filter((h) => h === 'TCPSocketWrap' || h === 'TCPServerWrap' || h === 'Timeout'),
      ).toEqual([]);
    }
    const exits = await Promise.all(ranks.map((r) => r.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    expect(Date.now() - started).toBeLessThan(EXIT_LIMIT_MS);
  });
});
