/**
 * Memory of the collectives on messages (spec/communicator.md §4.10), measured in a child process
 * (fixtures/rooted-memory.ts: a tcp group of 4 in one process, 32 MiB blocks, root 3). The root of
 * reduce folds blocks one at a time through one staging block; gather receives each block straight
 * into its place. The transport's own buffering (the star relay, socket reads) is about three
 * blocks here; the bounds sit between that plus our one block and the faults.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/rooted-memory.ts', import.meta.url));
const MiB = 1024 * 1024;
/**
 * Array-buffer bytes held beyond the test's own arrays. Measured: reduce 123 MiB (one staging block
 * + transport), 208 MiB when the root received every block at once before folding; gather 103–109
 * MiB (transport only), a copy of the gathered payload would add 128 MiB.
 */
const EXTRA_BOUND_BYTES = 170 * MiB;
const CHILD_TIMEOUT_MS = 110_000;

function measure(scenario: 'reduce' | 'gather'): Promise<{ extra: number; ok: boolean }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', FIXTURE, scenario],
      { timeout: CHILD_TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${scenario}: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as { extra: number; ok: boolean });
      },
    );
  });
}

describe('collectives on messages: memory at the root', () => {
  it.each(['reduce', 'gather'] as const)(
    '%s of 4 × 32 MiB holds at most one block beyond the transport’s buffering',
    async (scenario) => {
      const { extra, ok } = await measure(scenario);
      expect(ok, 'the result is right').toBe(true);
      expect(extra, `${scenario} held ${(extra / MiB).toFixed(0)} MiB beyond the test's arrays`).toBeLessThan(
        EXTRA_BOUND_BYTES,
      );
    },
    120_000,
  );
});
