/**
 * Re-initialisation under our launchers (spec/selection.md §5.4): a rank program that closes its
 * communicator and calls init() again gets a working communicator of the same group, on every
 * backend `collective run` starts — the advice InvalidCommunicator gives ("create a new one with
 * init()") is true there.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../launch/run-cli.js';

const REINIT_RANK = fileURLToPath(new URL('./fixtures/reinit-rank.ts', import.meta.url));
const RANKS = 3;
const ROUNDS = 3;

describe('re-init under collective run', () => {
  it.each([
    ['tcp', []],
    ['tcp', ['rank0-closes-late']],
  ] as const)('init/close/init/allreduce/close works (%s %s)', async (backend, extra) => {
    const run = runCli(['-n', String(RANKS), '--backend', backend, REINIT_RANK, String(ROUNDS), ...extra]);
    const { code } = await run.exited;
    expect(code, run.stderr.join('\n')).toBe(0);
    for (let round = 0; round < ROUNDS; round++) {
      // Ranks contribute rank + 1 + round: the sum is 1 + 2 + … + RANKS + RANKS·round.
      const expected = (RANKS * (RANKS + 1)) / 2 + RANKS * round;
      const lines = run.stdout.filter((line) => line.includes(`round ${round} `));
      expect(lines.map((line) => /sum (\S+)/.exec(line)?.[1]).sort()).toEqual(
        Array(RANKS).fill(String(expected)),
      );
    }
  });

  it('on shm, init() after close() fails at once on every rank, saying what works instead', async () => {
    const run = runCli(['-n', String(RANKS), '--backend', 'shm', REINIT_RANK, '2']);
    const { code } = await run.exited;
    expect(code, run.stderr.join('\n')).toBe(0);
    expect(run.stdout.filter((line) => line.includes('round 0 ')).length).toBe(RANKS);
    const failed = run.stdout.filter((line) => line.includes('round 1 '));
    expect(failed.map((line) => /round 1 rank (\d+)/.exec(line)?.[1]).sort()).toEqual(['0', '1', '2']);
    for (const line of failed) {
      expect(line).toContain('failed InitializationFailed');
      expect(line).toContain('joins its shm group once');
      expect(line).toContain('--backend tcp');
    }
  });
});
