/**
 * Rank 0's memory bounds (spec/backend-tcp.md §5.1, §5.3), measured in a child process: what it
 * holds for a peer that sends rounds far ahead (HOLD_LIMIT_BYTES, then it stops reading that
 * peer), and the staging it keeps after a large collective (STAGING_BUDGET_BYTES).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHUNK_BYTES, Tag } from '../../../src/backends/star/protocol.js';
import { Insider, tcpLink } from './insider.js';
import { MemoryChild, stopMemoryChildren, type Usage } from './memory-child.js';

const MiB = 1024 * 1024;

const children: MemoryChild[] = [];
afterEach(() => stopMemoryChildren(children));

function spawnChild(args: Record<string, unknown>): MemoryChild {
  const child = new MemoryChild(args);
  children.push(child);
  return child;
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`;

describe('rank 0 memory against a peer that sends ahead (fault 1)', () => {
  /** 48 rounds of 8 MiB: rank 0 held all 384 MiB of them before the per-peer bound. */
  const ROUNDS = 48;
  const ELEMENTS = MiB; // 8 MiB of float64
  /** The bound asserted: the per-peer hold limit, staging and one round's arrays, with a wide margin. */
  const PEAK_BOUND_BYTES = 192 * MiB;

  it('rank 0 stops reading the insider at its bound, then runs every round correctly', async () => {
    const child = spawnChild({ scenario: 'coordinator', size: 2 });
    const { port } = (await child.next('listening')) as unknown as { port: number };
    const insider = await Insider.join(await tcpLink(port), { rank: 1, size: 2 });
    await child.next('formed');
    const data = new Float64Array(ELEMENTS).fill(1);
    // Every round queued at once, by reference (8 MiB in this process): rank 0 has called nothing yet.
    for (let s = 0; s < ROUNDS; s++) insider.allreduce(s, data, DEFAULT_CHUNK_BYTES);
    // Rank 0 reads until it stops reading the insider (bounded) or until it has read everything (the fault).
    await Promise.race([child.next('paused'), insider.link.drained()]);
    const held = await child.memory();
    expect(
      held.peak.arrayBuffers,
      `rank 0 held ${mib(held.peak.arrayBuffers)} of array buffers for one peer's future rounds`,
    ).toBeLessThan(PEAK_BOUND_BYTES);

    // The insider's rounds are well-formed: once rank 0 calls, every one completes with the right sum.
    child.child.send({ type: 'run', rounds: ROUNDS, elements: ELEMENTS });
    const ran = (await child.next('ran')) as unknown as { ok: boolean; sums: number[]; error?: string };
    expect(ran.error).toBeUndefined();
    expect(new Set(ran.sums)).toEqual(new Set([2]));
    await insider.count(Tag.BarrierGo, ROUNDS);
    expect(insider.dataBytes.get(Tag.AllreduceRecv)).toBe(ROUNDS * 8 * ELEMENTS);
    const after = await child.memory();
    expect(after.peak.arrayBuffers, `peak ${mib(after.peak.arrayBuffers)}`).toBeLessThan(PEAK_BOUND_BYTES);
    child.child.send({ type: 'close' });
    expect(await child.exited).toBe(0);
    insider.link.destroy();
  });
});

describe('staging after a large collective (fault 3)', () => {
  it('after one 64 MiB allreduce on 3 ranks and 200 small ones, rank 0 keeps no more than its staging budget', async () => {
    const child = spawnChild({ scenario: 'large-then-small', largeBytes: 64 * MiB, smallCalls: 200 });
    const { before, after } = (await child.next('memory')) as unknown as { before: Usage; after: Usage };
    const kept = after.arrayBuffers - before.arrayBuffers;
    // Two workers' staging of 64 MiB each (128 MiB) was kept before; the budget is a few MiB per rank.
    expect(kept, `rank 0 kept ${mib(kept)} of array buffers after the large allreduce`).toBeLessThan(
      32 * MiB,
    );
    expect(await child.exited).toBe(0);
  });
});
