/**
 * The staging ring (spec/backend-tcp.md §5.3): slots never overlap a chunk the reduction has not
 * used, start 8-aligned, and the ring never exceeds STAGING_BUDGET_BYTES; a contribution larger than
 * the ring streams through it with exact results.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Contribution } from '../../../src/backends/star/contribution.js';
import { ALLREDUCE_PREFIX_BYTES, DEFAULT_CHUNK_BYTES } from '../../../src/backends/star/protocol.js';
import { STAGING_BUDGET_BYTES, StagingRing } from '../../../src/backends/star/staging.js';
import { closeAll, formGroup } from './support.js';

function contribution(bytes: number): Contribution {
  return {
    sequence: 0,
    action: 1,
    words: new Int32Array(6),
    fingerprint: null as never,
    bytes,
    received: 0,
    frames: [],
    framesStart: 0,
    discard: false,
  };
}

describe('staging ring', () => {
  it('places payloads 8-aligned, never over a live chunk, within the budget', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 9, max: 3 * 1024 * 1024 }), fc.constant(0)), { maxLength: 60 }),
        (steps) => {
          const ring = new StagingRing();
          const c = contribution(64 * 1024 * 1024);
          const live: Array<{ start: number; end: number }> = [];
          for (const step of steps) {
            if (step === 0) {
              // The reduction used the oldest frame (staged or not).
              if (c.frames.shift() !== undefined) live.shift();
              continue;
            }
            const slot = ring.slotFor(c, step);
            if (slot === null) continue;
            expect(slot.byteLength).toBe(step);
            expect(slot.byteOffset % 8).toBe(0);
            expect(slot.byteOffset + slot.byteLength).toBeLessThanOrEqual(STAGING_BUDGET_BYTES);
            const start = slot.byteOffset;
            const end = start + step;
            for (const l of live) expect(end <= l.start || start >= l.end).toBe(true);
            live.push({ start, end });
            c.frames.push(slot.subarray(ALLREDUCE_PREFIX_BYTES));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a 24 MiB allreduce on 3 ranks streams through the 8 MiB ring with exact sums, twice', async () => {
    const comms = await formGroup(3);
    const elements = (3 * STAGING_BUDGET_BYTES) / 8;
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(
        comms.map((c, rank) =>
          c.allreduce(Float64Array.from({ length: elements }, (_, i) => (i % 1000) * (rank + 1) + round)),
        ),
      );
      for (const out of results) {
        let wrong = 0;
        for (let i = 0; i < elements; i++) if (out[i] !== (i % 1000) * 6 + 3 * round) wrong++;
        expect(wrong).toBe(0);
      }
    }
    expect(STAGING_BUDGET_BYTES).toBeGreaterThan(8 * DEFAULT_CHUNK_BYTES);
    await closeAll(comms);
  });
});
