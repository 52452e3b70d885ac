/**
 * Re-initialisation under our launchers (spec/selection.md §5.4): a rank program that closes its
 * communicator and calls init() again gets a working communicator of the same group, on every
 * backend `collective run` starts — the advice InvalidCommunicator gives ("create a new one with
 * init()") is true there.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { train } from '../../src/launch/train.js';
import { runCli } from '../launch/run-cli.js';
import type { InitWhileOpenOutcome } from './fixtures/init-while-open-worker.js';
import { onlyOversubscriptionWarnings } from '../support/warnings.js';

const REINIT_RANK = fileURLToPath(new URL('./fixtures/reinit-rank.ts', import.meta.url));
const INIT_TWICE_RANK = fileURLToPath(new URL('./fixtures/init-twice-rank.ts', import.meta.url));
const REINIT_WORKER = new URL('./fixtures/reinit-worker.ts', import.meta.url);
const INIT_WHILE_OPEN_WORKER = new URL('./fixtures/init-while-open-worker.ts', import.meta.url);
/** How long a second init() on tcp may try to join before it gives up (the refusal case). */
const REFUSAL_CONNECT_TIMEOUT_SECS = 10;
/** A second init() while the first communicator is open is refused the same way on every backend (spec/selection.md §5.4). */
const REFUSAL = 'IncompatibleSettings';
const RANKS = 3;
const ROUNDS = 3;

/** The sums of ROUNDS rounds where rank r contributes r + 1 + round. */
function expectedSums(ranks: number, rounds: number): number[] {
  return Array.from({ length: rounds }, (_, round) => (ranks * (ranks + 1)) / 2 + ranks * round);
}

// Their launches of 3 workers warn on a 2-core machine; nothing else may warn.
onlyOversubscriptionWarnings();

describe('re-init under collective run', () => {
  it.each([
    ['tcp', []],
    ['tcp', ['rank0-closes-late']],
    ['shm', []],
    // rank 0 closes and calls init() while the last rank is still in the round before (threads: a BroadcastChannel orders it).
    ['shm', ['last-closes-after-rank0-reinits']],
  ] as const)('init/close/init/allreduce/close works (%s %s)', async (backend, extra) => {
    const run = runCli(['-n', String(RANKS), '--backend', backend, REINIT_RANK, String(ROUNDS), ...extra]);
    const { code } = await run.exited;
    expect(code, run.stderr.join('\n')).toBe(0);
    const sums = expectedSums(RANKS, ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      const lines = run.stdout.filter((line) => line.includes(`round ${round} `));
      expect(lines.map((line) => /sum (\S+)/.exec(line)?.[1]).sort(), run.stdout.join('\n')).toEqual(
        Array(RANKS).fill(String(sums[round])),
      );
    }
  });
});

describe('init() again while the first communicator is open', () => {
  it.each(['tcp', 'shm'])(
    'is IncompatibleSettings on every rank, and the first still works (%s)',
    async (backend) => {
      const run = runCli(['-n', String(RANKS), '--backend', backend, INIT_TWICE_RANK]);
      const { code } = await run.exited;
      const out = run.stdout.join('\n');
      expect(code, `${out}\n${run.stderr.join('\n')}`).toBe(0);
      for (let rank = 0; rank < RANKS; rank++) {
        const line = run.stdout.find((l) => l.includes(`rank ${rank} second`)) ?? '';
        expect(line, out).toMatch(/second IncompatibleSettings: .*still open.*close\(\)/);
        expect(out).toContain(`rank ${rank} first still works: sum ${(RANKS * (RANKS + 1)) / 2}`);
      }
    },
  );
});

describe('re-init in a train() worker', () => {
  it.each(['shm', 'tcp'] as const)(
    'a %s worker that closes its communicator and calls init() again, twice, gets correct sums',
    async (backend) => {
      const result = await train(REINIT_WORKER, {
        numWorkers: RANKS,
        backend,
        args: { rounds: ROUNDS - 1 },
      });
      expect(result).toEqual(expectedSums(RANKS, ROUNDS));
    },
  );

  it.each(['shm', 'tcp'] as const)(
    'a %s worker that calls init() while its communicator is open is refused on every rank',
    async (backend) => {
      const outcomes = await train<InitWhileOpenOutcome[]>(INIT_WHILE_OPEN_WORKER, {
        numWorkers: RANKS,
        backend,
        // A rank >= 1 that meets its own open group retries until the connect timeout: keep it short.
        env: { COLLECTIVE_CONNECT_TIMEOUT_SECS: String(REFUSAL_CONNECT_TIMEOUT_SECS) },
      });
      expect(outcomes).toHaveLength(RANKS);
      // Never a communicator of some other world (before the fix: tcp handed out a one-rank 'local').
      for (const outcome of outcomes) expect((outcome as { refused?: string }).refused).toBe(REFUSAL);
    },
  );
});
