/**
 * The multi-job family (issue 11 item 4; spec/selection.md §4.1, spec/backend-tcp.md §3.4): two jobs on
 * one node that use the same coordinator address (one port for both, as the default 29500 is) — with real
 * processes through the public init(). Neither job ever computes with the other's data: the second
 * job's rank 0 fails at once on the taken port naming the remedy, a rank that reaches the other job's
 * rank 0 is refused naming both jobs, and the first job completes with its own numbers only. The order
 * in which ranks reach the address is set by events (outcome lines, gate files), never by time.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv } from '../selection/fixtures/child-env.js';
import { launch, sharedPort, type Launched } from './jobs/processes.js';
import type { JobOutcome } from './jobs/outcome.js';

const RANK = fileURLToPath(new URL('./jobs/rank.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../selection/fixtures/cli.ts', import.meta.url));
/** Each job's contribution is its tag + rank: job A's sum is 201, a sum with a rank of B in it is not. */
const TAG = { A: 100, B: 200 } as const;
const JOB_A_SUM = 2 * TAG.A + 1;
/** Bounds a rank that waits for a peer that never comes, well inside the test's timeout. */
const CONNECT_TIMEOUT_SECS = 20;
/** "Fails fast", stated generously for a loaded 2-core machine: far below the connect timeout. */
const FAIL_FAST_MS = 5_000;
const TEST_TIMEOUT_MS = 60_000;
const MPIRUN_TIMEOUT_SECS = 50;

const live: Launched[] = [];
afterEach(() => {
  for (const launched of live.splice(0)) launched.kill();
});

function started(launched: Launched): Launched {
  live.push(launched);
  return launched;
}

const RANK_ENV = {
  COLLECTIVE_CONNECT_TIMEOUT_SECS: String(CONNECT_TIMEOUT_SECS),
  COLLECTIVE_TIMEOUT_SECS: String(CONNECT_TIMEOUT_SECS),
};

/** A hand-launched rank: COLLECTIVE_BACKEND=tcp, COLLECTIVE_RANK/SIZE, and nothing about a port but `extra`. */
function handRank(rank: number, tag: number, extra: Record<string, string>): Launched {
  const env = childEnv({
    ...RANK_ENV,
    COLLECTIVE_BACKEND: 'tcp',
    COLLECTIVE_RANK: String(rank),
    COLLECTIVE_SIZE: '2',
    COLLECTIVE_TCP_COORDINATOR: '127.0.0.1',
    JOBS_TAG: String(tag),
    ...extra,
  });
  return started(launch(process.execPath, ['--import', 'tsx', RANK], env));
}

/** `mpirun -n 2` of the rank program: the ranks find rank, size, coordinator and job from Open MPI alone. */
function mpirun(extra: Record<string, string>): Launched {
  const args = ['--timeout', String(MPIRUN_TIMEOUT_SECS), '--oversubscribe', '-n', '2'];
  args.push(process.execPath, '--import', 'tsx', RANK);
  const env = childEnv({
    ...RANK_ENV,
    // The tcp job identity under mpirun is what these cases test; auto would pick mpi where its addon loads.
    COLLECTIVE_BACKEND: 'tcp',
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    ...extra,
  });
  return started(launch('mpirun', args, env));
}

function context(...processes: Launched[]): string {
  return processes.map((p) => `stdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`).join('\n---\n');
}

/** The refusal a rank of job `theirs` gets from rank 0 of job `ours`: both named, and what to set. */
function expectRefusedNamingBoth(outcome: JobOutcome, theirs: string, ours: string): void {
  expect(outcome).toMatchObject({ ok: false, kind: 'InitializationFailed' });
  expect(outcome.message).toContain(`job "${theirs}"`);
  expect(outcome.message).toContain(`job "${ours}"`);
  expect(outcome.message).toMatch(/COLLECTIVE_TCP_PORT/);
  expect(outcome.message).toMatch(/COLLECTIVE_JOB_ID/);
}

/** The second job's rank 0 on the taken port: at once, with the errno and the port to set. */
function expectPortTaken(outcome: JobOutcome): void {
  expect(outcome).toMatchObject({
    ok: false,
    kind: 'InitializationFailed',
    context: { errno: 'EADDRINUSE' },
  });
  expect(outcome.suggestion).toMatch(/COLLECTIVE_TCP_PORT/);
  expect(outcome.initMs).toBeLessThan(FAIL_FAST_MS);
}

describe('multi-job: two jobs on one node, one coordinator address (tcp)', () => {
  it(
    'hand launches with distinct COLLECTIVE_JOB_IDs: B is refused and fails fast, A sums only its own numbers',
    async () => {
      const { env: port } = await sharedPort();
      const jobA = `job-A-${randomUUID()}`;
      const jobB = `job-B-${randomUUID()}`;
      const a = { ...port, COLLECTIVE_JOB_ID: jobA };
      const b = { ...port, COLLECTIVE_JOB_ID: jobB };
      // Job A's rank 1 is late. Job B's rank 1 dials the address until job A's rank 0 listens there.
      const a0 = handRank(0, TAG.A, a);
      const b1 = handRank(1, TAG.B, b);
      const refused = await b1.outcome(1);
      expectRefusedNamingBoth(refused, jobB, jobA);
      // Job A's rank 0 holds the port now (it has just refused B's rank 1): job B's rank 0 cannot listen.
      const b0 = handRank(0, TAG.B, b);
      expectPortTaken(await b0.outcome(0));
      const a1 = handRank(1, TAG.A, a);
      const outcomes = await Promise.all([a0.outcome(0), a1.outcome(1)]);
      const all = context(a0, a1, b0, b1);
      for (const outcome of outcomes) expect(outcome, all).toMatchObject({ ok: true, sum: JOB_A_SUM });
      // Rank 0 of job A logged the refusal, naming both jobs, and went on waiting for its own rank 1.
      expect(a0.stderr()).toContain(`job "${jobB}"`);
      for (const p of [a0, a1, b0, b1]) expect((await p.exited).code, all).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'two mpirun -n 2 at once with the default address: neither computes with the other, the refusal names both PMIx namespaces',
    async () => {
      const { env: port } = await sharedPort();
      const gates = mkdtempSync(join(tmpdir(), 'collective-jobs-'));
      try {
        const gate = (name: string): string => join(gates, name);
        // Job A's rank 1 and job B's rank 0 wait for gates: only A's rank 0 and B's rank 1 start at once.
        const a = mpirun({ ...port, JOBS_TAG: String(TAG.A), JOBS_GATE: gate('a1'), JOBS_GATE_RANK: '1' });
        const b = mpirun({ ...port, JOBS_TAG: String(TAG.B), JOBS_GATE: gate('b0'), JOBS_GATE_RANK: '0' });
        const refused = await b.outcome(1);
        writeFileSync(gate('b0'), '');
        const taken = await b.outcome(0);
        expectPortTaken(taken);
        writeFileSync(gate('a1'), '');
        const [a0, a1] = await Promise.all([a.outcome(0), a.outcome(1)]);
        const all = context(a, b);
        // Each job's identity is its own PMIx namespace, seen alike by its ranks and distinct between jobs.
        const jobA = a0.jobId!;
        const jobB = taken.jobId!;
        expect([a1.jobId, refused.jobId], all).toEqual([jobA, jobB]);
        expect(jobA, all).not.toBe(jobB);
        expect(jobA, all).toMatch(/\S/);
        expectRefusedNamingBoth(refused, jobB, jobA);
        for (const outcome of [a0, a1]) expect(outcome, all).toMatchObject({ ok: true, sum: JOB_A_SUM });
        // Job A's rank 0 logged the refusal; no rank lacked an identity (PMIX_NAMESPACE gave one).
        expect(a.stderr(), all).toContain(`job "${jobB}"`);
        for (const job of [a, b]) expect(job.stderr(), all).not.toContain('COLLECTIVE_NO_JOB_ID');
        expect((await a.exited).code, all).toBe(0);
        expect((await b.exited).code, all).toBe(0);
      } finally {
        rmSync(gates, { recursive: true, force: true });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a hand launch without any job identity warns COLLECTIVE_NO_JOB_ID on every rank, and collective doctor shows it',
    async () => {
      const { env: port } = await sharedPort();
      const ranks = [handRank(0, TAG.A, port), handRank(1, TAG.A, port)];
      const outcomes = await Promise.all(ranks.map((r, rank) => r.outcome(rank)));
      const all = context(...ranks);
      for (const outcome of outcomes)
        expect(outcome, all).toMatchObject({ ok: true, jobId: null, sum: JOB_A_SUM });
      for (const r of ranks) {
        expect(r.stderr()).toMatch(
          /COLLECTIVE_NO_JOB_ID.*same port could join each other.*COLLECTIVE_JOB_ID=/,
        );
      }
      const doctor = await runDoctor({
        COLLECTIVE_BACKEND: 'tcp',
        COLLECTIVE_RANK: '1',
        COLLECTIVE_SIZE: '2',
        COLLECTIVE_TCP_COORDINATOR: '127.0.0.1',
        ...port,
      });
      expect(doctor.code, doctor.stderr).toBe(0);
      expect(doctor.stdout).toMatch(/^job id: +\(none\)/m);
      expect(doctor.stdout).toMatch(/warning COLLECTIVE_NO_JOB_ID: .*COLLECTIVE_JOB_ID/);
    },
    TEST_TIMEOUT_MS,
  );
});

function runDoctor(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'doctor'], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: TEST_TIMEOUT_MS / 2,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
