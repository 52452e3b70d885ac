/**
 * Every byte a rank writes reaches the launcher's output, in order, however the rank ends (issue 11
 * item 7): process.exit right after writing, a normal end, an uncaught throw, SIGKILL after writing.
 * Each test repeats the run several times, since a lost tail is a race that one run may not show; the
 * runs of a test overlap, a few at a time (each is mostly process start-up and piping, which both cores
 * can share), and each is checked on its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allThenFirstFailure, limitConcurrency } from '../support/limit.js';
import { floodLines } from './fixtures/flood.js';
import { runCli } from './run-cli.js';

const FLOOD_RANK = fileURLToPath(new URL('./fixtures/flood-rank.ts', import.meta.url));
const TRAIN_FLOOD = fileURLToPath(new URL('./fixtures/train-flood.ts', import.meta.url));
const RANKS = 3;
/** The exit status of the launcher for each way the ranks end. */
const RUN_STATUS = { exit: 0, return: 0, throw: 1, sigkill: 128 + 9 } as const;
/** Several runs per test, cycling through the ways a rank can end. */
const RUN_ENDINGS = {
  tcp: ['exit', 'return', 'throw', 'sigkill', 'exit'],
  shm: ['exit', 'return', 'throw', 'exit', 'return'],
} as const;
const TRAIN_ENDINGS = ['return', 'exit', 'throw', 'return', 'exit'] as const;
/** Runs of one test at once, on two cores. */
const CONCURRENT_RUNS = 3;

/** 'identical', or where the two line lists first differ (without printing 200 kB lines). */
function difference(actual: readonly string[], expected: readonly string[]): string {
  const shown = (line: string | undefined): string =>
    line === undefined ? 'nothing' : `${line.slice(0, 40)}… (${line.length} chars)`;
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    if (actual[i] !== expected[i]) {
      return `${actual.length} of ${expected.length} lines; line ${i} is ${shown(actual[i])}, want ${shown(expected[i])}`;
    }
  }
  return 'identical';
}

/** The bytes of `lines` written one per line. */
function byteCount(lines: readonly string[]): number {
  return lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
}

describe('collective run: every byte a rank writes arrives', () => {
  it.each(['tcp', 'shm'] as const)(
    '%s: 3 ranks, 2,000 lines and a 200 kB line each, 5 runs',
    async (backend) => {
      const slot = limitConcurrency(CONCURRENT_RUNS);
      const check = async (how: (typeof RUN_ENDINGS)[typeof backend][number]): Promise<void> => {
        const run = runCli(['-n', String(RANKS), '--backend', backend, FLOOD_RANK, how]);
        const { code } = await run.exited;
        expect(code, `${how}: ${run.stderr.join('\n')}`).toBe(RUN_STATUS[how]);
        const expected: string[] = [];
        for (let rank = 0; rank < RANKS; rank++) {
          const prefix = `[${rank}] `;
          const own = run.stdout.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
          expect(difference(own, floodLines(rank)), `${backend} ${how}, rank ${rank}`).toBe('identical');
          expected.push(...floodLines(rank).map((line) => prefix + line));
        }
        // Nothing else, nothing twice: the launcher's stdout holds exactly these bytes.
        expect(byteCount(run.stdout.filter((l) => l !== ''))).toBe(byteCount(expected));
      };
      await allThenFirstFailure(RUN_ENDINGS[backend].map((how) => slot(() => check(how))));
    },
  );
});

/** Runs the train-flood program and returns its stdout, stderr and exit code. */
function trainFlood(
  backend: 'shm' | 'tcp',
  how: string,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', TRAIN_FLOOD, backend, how], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ stdout, stderr, code })));
}

describe('train(): every byte a worker writes arrives', () => {
  it.each(['tcp', 'shm'] as const)(
    '%s: 3 workers, 2,000 lines and a 200 kB line each, 5 runs',
    async (backend) => {
      const slot = limitConcurrency(CONCURRENT_RUNS);
      const check = async (how: (typeof TRAIN_ENDINGS)[number]): Promise<void> => {
        const { stdout, stderr, code } = await trainFlood(backend, how);
        expect(code, stderr).toBe(0);
        expect(stderr).toContain(how === 'return' ? 'train resolved' : 'train rejected');
        const lines = stdout.split('\n');
        expect(lines.pop(), 'the output ends with a newline').toBe('');
        for (let rank = 0; rank < RANKS; rank++) {
          const own = lines.filter((l) => l.startsWith(`r${rank} `));
          expect(difference(own, floodLines(rank)), `${backend} ${how}, rank ${rank}`).toBe('identical');
        }
        const all = Array.from({ length: RANKS }, (_, rank) => floodLines(rank)).flat();
        expect(stdout.length).toBe(byteCount(all));
      };
      await allThenFirstFailure(TRAIN_ENDINGS.map((how) => slot(() => check(how))));
    },
  );
});
