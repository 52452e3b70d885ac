import { describe, expect, it } from 'vitest';
import { assertAllGone } from './leftovers.js';
import { RANK_SCRIPT, runCli } from './run-cli.js';

const BACKENDS = ['shm', 'tcp'] as const;
const SIGTERM_EXIT = 128 + 15;
const SIGKILL_EXIT = 128 + 9;

function pidsOf(lines: readonly string[]): number[] {
  return lines.map((line) => Number(/pid=(\d+)/.exec(line)?.[1]));
}

describe('collective run: exit status', () => {
  it.each(BACKENDS)(
    'is the first failing rank exit code, and the other ranks are stopped (%s)',
    async (backend) => {
      const run = runCli(['-n', '3', '--backend', backend, RANK_SCRIPT, 'exit', '1', '7']);
      const { code } = await run.exited;
      expect(code).toBe(7);
      expect(run.stderr.join('\n')).toContain('rank 1 exited with code 7; stopping the other ranks');
    },
  );

  it('is 128 + the signal number when a rank is killed by a signal (tcp)', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', RANK_SCRIPT, 'sigkill', '1']);
    expect((await run.exited).code).toBe(SIGKILL_EXIT);
    expect(run.stderr.join('\n')).toContain('rank 1 was killed by SIGKILL');
  });

  it('is 124 after --timeout, with every rank stopped', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', '--timeout', '1', RANK_SCRIPT, 'plain-wait']);
    expect((await run.exited).code).toBe(124);
    expect(run.stderr.join('\n')).toContain('--timeout 1 s reached');
    // Whichever ranks got as far as printing their pid before the timeout are gone now.
    assertAllGone(pidsOf(run.stdout.filter((l) => /ready pid=/.test(l))));
  });

  it.each([
    [['-n', '0', RANK_SCRIPT], /-n must be an integer >= 1/],
    [
      ['--backend', 'nccl', '-n', '2', RANK_SCRIPT],
      /BackendError InvalidBackend: unknown backend --backend="nccl"/,
    ],
    [['--backend', 'local', '-n', '2', RANK_SCRIPT], /the local backend has one rank, but -n is 2/],
    [['-n', '2'], /no SCRIPT given/],
    [['-n', '2', '--frobnicate', RANK_SCRIPT], /Unknown option '--frobnicate'/],
    [['-n', '2', 'no-such-script.ts'], /does not exist/],
  ])('is 2 for a bad command line %j', async (args, message) => {
    const run = runCli(args);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr.join('\n')).toMatch(message);
  });
});

describe('collective run: the tcp port', () => {
  it('rank 0 listens on an ephemeral port and the others get the port it reported', async () => {
    const run = runCli(['-n', '3', '--backend', 'tcp', RANK_SCRIPT, 'coordinator']);
    expect((await run.exited).code).toBe(0);
    const seen = new Map(
      run.stdout
        .map((l) => /^\[(\d)\] coordinator=(.*)$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => [Number(m[1]), m[2]!]),
    );
    expect(seen.get(0)).toBe('127.0.0.1:0');
    const port = /^127\.0\.0\.1:(\d+)$/.exec(seen.get(1) ?? '')?.[1];
    expect(Number(port)).toBeGreaterThan(0);
    expect(seen.get(2)).toBe(seen.get(1));
  });

  it('a rank 0 that exits before it listens is the failure, and no other rank starts', async () => {
    const run = runCli(['-n', '3', '--backend', 'tcp', '--json', RANK_SCRIPT, 'early-exit', '5']);
    expect((await run.exited).code).toBe(5);
    const exit = run.stdout.map((l) => JSON.parse(l) as { event?: string; ranks?: Array<{ rank: number }> });
    expect(exit.find((e) => e.event === 'exit')?.ranks?.map((r) => r.rank)).toEqual([0]);
  });
});

describe('collective run: the job identity', () => {
  const jobsOf = (lines: readonly string[]): string[] =>
    lines.map((l) => /job=(.*)$/.exec(l)?.[1]).filter((j): j is string => j !== undefined);

  it.each(BACKENDS)(
    'the ranks of one launch share a fresh COLLECTIVE_JOB_ID; two launches differ (%s)',
    async (backend) => {
      const runs = [0, 1].map(() => runCli(['-n', '2', '--backend', backend, RANK_SCRIPT, 'job-id']));
      const [first, second] = await Promise.all(
        runs.map(async (run) => {
          expect((await run.exited).code).toBe(0);
          return jobsOf(run.stdout);
        }),
      );
      expect(first).toHaveLength(2);
      expect(first![0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(first![1]).toBe(first![0]);
      expect(second![0]).not.toBe(first![0]);
    },
  );

  it('keeps a COLLECTIVE_JOB_ID the caller set', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', RANK_SCRIPT, 'job-id'], {
      COLLECTIVE_JOB_ID: 'nightly-42',
    });
    expect((await run.exited).code).toBe(0);
    expect(jobsOf(run.stdout)).toEqual(['nightly-42', 'nightly-42']);
  });
});

describe('collective run: output', () => {
  it.each(BACKENDS)('prefixes every line with [rank] and passes arguments through (%s)', async (backend) => {
    const run = runCli(['-n', '2', '--backend', backend, RANK_SCRIPT, 'hello', '--lr', '0.1']);
    expect((await run.exited).code).toBe(0);
    expect(run.stdout.filter((l) => l !== '').sort()).toEqual([
      '[0] rank 0/2 args=--lr 0.1',
      '[1] rank 1/2 args=--lr 0.1',
    ]);
  });

  it('--no-prefix prints the lines as they are', async () => {
    const run = runCli(['-n', '2', '--backend', 'shm', '--no-prefix', RANK_SCRIPT, 'hello']);
    expect((await run.exited).code).toBe(0);
    expect(run.stdout.filter((l) => l !== '').sort()).toEqual(['rank 0/2 args=', 'rank 1/2 args=']);
  });

  it('--json prints one object per line and an exit event', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', '--json', RANK_SCRIPT, 'hello']);
    expect((await run.exited).code).toBe(0);
    const objects = run.stdout.filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      objects.filter((o) => o['stream'] === 'stdout').sort((a, b) => Number(a['rank']) - Number(b['rank'])),
    ).toEqual([
      { rank: 0, stream: 'stdout', line: 'rank 0/2 args=' },
      { rank: 1, stream: 'stdout', line: 'rank 1/2 args=' },
    ]);
    expect(objects.at(-1)).toEqual({
      event: 'exit',
      code: 0,
      ranks: [
        { rank: 0, exitCode: 0, signal: null },
        { rank: 1, exitCode: 0, signal: null },
      ],
      timedOut: false,
      firstFailure: null,
    });
  });

  it('--help is complete', async () => {
    const run = runCli(['--help']);
    expect((await run.exited).code).toBe(0);
    const help = run.stdout.join('\n');
    const flags = ['-n', '--backend', '--timeout', '--no-prefix', '--json', '--no-parent-watch'];
    for (const flag of [...flags, 'SIGUSR1', 'Exit status']) {
      expect(help).toContain(flag);
    }
  });
});

describe('collective run: signals', () => {
  it.each(BACKENDS)('forwards SIGUSR1 and SIGTERM to every rank (%s)', async (backend) => {
    const run = runCli(['-n', '2', '--backend', backend, RANK_SCRIPT, 'signals']);
    const ready = await run.waitForLines(/ready pid=/, 2);
    run.child.kill('SIGUSR1');
    const usr1 = await run.waitForLines(/got SIGUSR1/, 2);
    expect(usr1.map((l) => l.slice(0, 3)).sort()).toEqual(['[0]', '[1]']);
    run.child.kill('SIGTERM');
    await run.waitForLines(/got SIGTERM/, 2);
    // The ranks handled SIGTERM by exiting with 42: that is the status, not a signal death.
    expect((await run.exited).code).toBe(42);
    assertAllGone(pidsOf(ready));
  });

  it.each(BACKENDS)('a rank without a SIGTERM handler is ended by it: status 143 (%s)', async (backend) => {
    const run = runCli(['-n', '2', '--backend', backend, RANK_SCRIPT, 'plain-wait']);
    const ready = await run.waitForLines(/ready pid=/, 2);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(SIGTERM_EXIT);
    assertAllGone(pidsOf(ready));
  });
});
