/**
 * train()'s workers use the same communicator settings as init() would (issue 11 item 11a), read from
 * the environment and options.env, and every run is a job of its own (item 4): COLLECTIVE_JOB_ID.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError, WorkerError } from '../../src/index.js';
import { train } from '../../src/launch/train.js';

const WORKER = new URL('./fixtures/worker.ts', import.meta.url);
/** The timeout the tests set: far below the default, so a wait for the default fails the bound. */
const TIMEOUT_SECS = 2;
/** Generous: the timeout plus start-up of the workers on a loaded 2-core machine. */
const FAILURE_BOUND_MS = 20_000;

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('train() resolved, but a worker should have timed out');
}

describe('train(): COLLECTIVE_TIMEOUT_SECS reaches the workers', () => {
  afterEach(() => {
    delete process.env['COLLECTIVE_TIMEOUT_SECS'];
  });

  it.each([
    ['shm', 'options.env'],
    ['tcp', 'options.env'],
    ['shm', 'process.env'],
    ['tcp', 'process.env'],
  ] as const)(
    '%s, from %s: a waiting worker times out, not waiting for the silent one',
    async (backend, source) => {
      const env = { COLLECTIVE_TIMEOUT_SECS: String(TIMEOUT_SECS) };
      if (source === 'process.env') Object.assign(process.env, env);
      const started = Date.now();
      const error = await failureOf(
        train(WORKER, {
          numWorkers: 2,
          backend,
          args: { mode: 'silent', failRank: 1 },
          ...(source === 'options.env' ? { env } : {}),
        }),
      );
      expect(Date.now() - started).toBeLessThan(FAILURE_BOUND_MS);
      // Rank 0 waited in the allreduce that the silent rank 1 never joined: its Timeout is the failure.
      assert(error instanceof WorkerError, String(error));
      expect(error.rank).toBe(0);
      expect(error.inner).toMatchObject({ name: 'CommError', code: 'Timeout' });
      expect(error.inner?.details).toMatchObject({ missing: [1], timeoutSecs: TIMEOUT_SECS });
    },
  );

  it('a malformed COLLECTIVE_TIMEOUT_SECS is refused before any worker starts', async () => {
    const error = await failureOf(
      train(WORKER, {
        numWorkers: 2,
        backend: 'shm',
        args: { mode: 'sum' },
        env: { COLLECTIVE_TIMEOUT_SECS: 'soon' },
      }),
    );
    assert(error instanceof BackendError, String(error));
    expect(error.kind).toBe('IncompatibleSettings');
    expect(error.message).toContain('COLLECTIVE_TIMEOUT_SECS');
  });
});

describe('train(): COLLECTIVE_TCP_ALGORITHM reaches the workers', () => {
  it('tcp, from options.env: every worker reads the same algorithm', async () => {
    const value = await train(WORKER, {
      numWorkers: 2,
      backend: 'tcp',
      args: { mode: 'algorithm-env' },
      env: { COLLECTIVE_TCP_ALGORITHM: 'star' },
    });
    expect(value).toBe('star,star');
  });
});

describe('train(): every run is a job of its own', () => {
  it.each(['shm', 'tcp'] as const)(
    '%s: the workers of one run share a COLLECTIVE_JOB_ID, two runs differ',
    async (backend) => {
      const run = (): Promise<string> =>
        train(WORKER, { numWorkers: 2, backend, args: { mode: 'job-id' } }) as Promise<string>;
      const [first, second] = [await run(), await run()];
      const [a0, a1] = first.split(',');
      const [b0] = second.split(',');
      expect(a0).toMatch(/^[0-9a-f-]{36}$/);
      expect(a1).toBe(a0);
      expect(b0).not.toBe(a0);
    },
  );

  it('keeps a COLLECTIVE_JOB_ID the caller set', async () => {
    const value = await train(WORKER, {
      numWorkers: 2,
      backend: 'shm',
      args: { mode: 'job-id' },
      env: { COLLECTIVE_JOB_ID: 'nightly-42' },
    });
    expect(value).toBe('nightly-42,nightly-42');
  });
});

describe("train(): a worker's environment describes its own run, as collective run's ranks do", () => {
  it.each(['shm', 'tcp'] as const)(
    "%s: the caller's launch variables (COLLECTIVE_RANK, COLLECTIVE_TCP_PORT, an mpirun's rank) are replaced",
    async (backend) => {
      const value = await train(WORKER, {
        numWorkers: 2,
        backend,
        args: { mode: 'launch-env' },
        // As if the caller were rank 5 of an mpirun job with its own COLLECTIVE_* launch settings.
        env: {
          COLLECTIVE_RANK: '7',
          COLLECTIVE_SIZE: '9',
          COLLECTIVE_TCP_PORT: '1',
          OMPI_COMM_WORLD_RANK: '5',
          OMPI_COMM_WORLD_SIZE: '8',
        },
      });
      expect(value).toBe(`${backend}/0/2/-/-,${backend}/1/2/-/-`);
    },
  );
});
