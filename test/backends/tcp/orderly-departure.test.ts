/**
 * A worker that closes in an orderly way after its part of the round is complete (spec/backend-tcp.md
 * §6, §7.1): rank 0's in-flight call still completes for the other ranks; only later collectives fail.
 */
import { createHash } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { RankChild, startRankZero, stopChildren } from './support.js';

/** Far more than loopback socket buffers hold, so rank 0 is still sending to the stopped rank (bytes). */
const BROADCAST_BYTES = 16 * 1024 * 1024;

let rank0: Communicator | null = null;
const children: RankChild[] = [];
afterEach(async () => {
  await rank0?.close();
  rank0 = null;
  await stopChildren(children);
});

it.each([
  ['closed', false],
  ['ended its process without close()', true],
])(
  "a rank that received everything and %s does not fail rank 0's broadcast still leaving for a slow rank",
  async (_, exitWithoutClose) => {
    const { port, comm } = await startRankZero(3, { timeoutSecs: 30 });
    const args = { size: 3, port, scenario: 'receive-broadcast', broadcastBytes: BROADCAST_BYTES };
    const fast = new RankChild({ ...args, rank: 1, exitWithoutClose });
    const slow = new RankChild({ ...args, rank: 2 });
    children.push(fast, slow);
    rank0 = await comm;
    await Promise.all([fast.next('called'), slow.next('called')]);
    slow.child.kill('SIGSTOP');
    const data = new Uint8Array(BROADCAST_BYTES).map((_, i) => (i * 7 + 3) & 0xff);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const call = rank0.broadcast(data, 0).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    // Rank 1 reads everything, closes (or not) and exits while rank 0 still has frames for the stopped rank 2.
    expect((await fast.next('received'))['sha256']).toBe(sha256);
    expect(await fast.exited).toEqual({ code: 0, signal: null });
    slow.child.kill('SIGCONT');
    expect(await call).toBe('resolved');
    expect((await slow.next('received'))['sha256']).toBe(sha256);
    const later = await rank0.barrier().then(
      () => expect.fail('the barrier after rank 1 left should fail'),
      (e: unknown) => e as { code?: string; details?: Record<string, unknown> },
    );
    expect(later.code).toBe('CollectiveFailed');
    expect(later.details?.['rank']).toBe(1);
  },
);
