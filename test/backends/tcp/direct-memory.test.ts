/**
 * Memory of the direct allreduce (spec/backend-tcp.md §13, the memory statement): 8 tcp ranks on
 * 127.0.0.1, one process each, one 64 MiB float64 sum allreduce with algorithm 'direct'. No rank may
 * stage more than its own buffer (the R−1 received slices of n/R it folds) plus the message layer's
 * frames in flight, whatever R is: each rank's peak resident set (getrusage maxRSS, in its own
 * process) above its resident set once its send and receive buffers exist must stay under
 * STAGING_BOUND_BYTES. A rank that staged every other rank's whole buffer (R−1 = 7 × 64 MiB = 448 MiB)
 * or a copy of the result per peer fails it clearly. One run: 8 processes on 2 cores are heavy.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryChild } from './memory-child.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/direct-memory-rank.ts', import.meta.url));
const MiB = 1024 * 1024;
const RANKS = 8;
const BUFFER_BYTES = 64 * MiB;
/**
 * The stated bound on what one allreduce adds to a rank's resident set beyond its own two buffers:
 * one buffer of staged slices, half a buffer for frames in flight and copies the platform makes, and
 * 64 MiB for Node's own growth (heap, socket buffers). 160 MiB; the fault it catches stages ≥ 448 MiB.
 */
const STAGING_BOUND_BYTES = BUFFER_BYTES * 1.5 + 64 * MiB;
const TEST_LIMIT_MS = 180_000;

const ranks: MemoryChild[] = [];
afterEach(async () => {
  for (const r of ranks.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await r.exited;
  }
});

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`;

describe('direct allreduce memory', () => {
  it(
    `${RANKS} ranks × ${mib(BUFFER_BYTES)}: no rank's peak RSS grows more than ${mib(STAGING_BOUND_BYTES)} beyond its own buffers`,
    async () => {
      const common = { size: RANKS, elements: BUFFER_BYTES / 8, algorithm: 'direct' };
      const first = new MemoryChild({ ...common, rank: 0, port: 0 }, FIXTURE);
      ranks.push(first);
      const { port } = (await first.next('listening')) as unknown as { port: number };
      for (let rank = 1; rank < RANKS; rank++)
        ranks.push(new MemoryChild({ ...common, rank, port }, FIXTURE));
      const allocated = await Promise.all(ranks.map((r) => r.next('allocated')));
      const measured = await Promise.all(ranks.map((r) => r.next('measured')));
      const report = measured.map((m, rank) => {
        const rss = allocated[rank]!['rss'] as number;
        const peak = m['maxRss'] as number;
        return {
          rank,
          grew: peak - rss,
          wrong: m['wrong'] as number,
          text: `rank ${rank}: ${mib(rss)} with its buffers, peak ${mib(peak)} (+${mib(peak - rss)}), array buffers peak ${mib(m['peakArrayBuffers'] as number)}`,
        };
      });
      const all = report.map((r) => r.text).join('\n');
      expect(
        report.filter((r) => r.wrong !== 0).map((r) => r.rank),
        all,
      ).toEqual([]);
      expect(
        report.filter((r) => r.grew >= STAGING_BOUND_BYTES).map((r) => r.rank),
        all,
      ).toEqual([]);
      for (const r of ranks) expect(await r.exited, r.stderr).toBe(0);
    },
    TEST_LIMIT_MS,
  );
});
