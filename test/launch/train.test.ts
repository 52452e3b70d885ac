import assert from 'node:assert/strict';
import { describe, expect, it } from 'vitest';
import { BackendError, CommError, WorkerError } from '../../src/index.js';
import { train, type ProgressEvent } from '../../src/launch/train.js';
import type { FixtureArgs } from './fixtures/worker.js';
import { activeResources, assertAllGone, assertNoExtraResources } from './leftovers.js';
import { onlyOversubscriptionWarnings } from '../support/warnings.js';

const WORKER = new URL('./fixtures/worker.ts', import.meta.url);
const BACKENDS = ['shm', 'tcp'] as const;

/** Runs train() and collects the pids the workers reported, for the leftovers check. */
async function trainCollecting(
  backend: 'shm' | 'tcp',
  numWorkers: number,
  args: FixtureArgs,
  extra: { timeoutMs?: number; signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {},
): Promise<{ result: Promise<unknown>; pids: number[] }> {
  const pids: number[] = [];
  const result = train(WORKER, {
    numWorkers,
    backend,
    args,
    ...extra,
    onProgress: (event) => {
      if (event['kind'] === 'started') pids.push(event['pid'] as number);
      extra.onProgress?.(event);
    },
  });
  return { result, pids };
}

async function expectFailure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('train() resolved, but a worker failed');
}

// Their launches of 3 workers warn on a 2-core machine; nothing else may warn.
onlyOversubscriptionWarnings();

describe('train(): results', () => {
  it.each(BACKENDS)('returns rank 0 result with %s', async (backend) => {
    const before = activeResources();
    const { result } = await trainCollecting(backend, 3, { mode: 'sum' });
    const value = (await result) as {
      rank: number;
      size: number;
      backend: string;
      total: number;
      pid: number;
    };
    expect(value).toMatchObject({ rank: 0, size: 3, backend, total: 6 });
    if (backend === 'tcp') assert.notEqual(value.pid, process.pid, 'tcp workers are processes');
    else assert.equal(value.pid, process.pid, 'shm workers are threads of this process');
    await assertNoExtraResources(before);
  });

  it('runs one worker in this thread on the local backend, whatever the backend option says', async () => {
    const value = (await train(WORKER, { numWorkers: 1, backend: 'tcp', args: { mode: 'sum' } })) as {
      backend: string;
      total: number;
    };
    expect(value).toMatchObject({ backend: 'local', total: 1 });
  });

  it.each(BACKENDS)('adds options.env to the environment of %s workers', async (backend) => {
    const value = await train(WORKER, {
      numWorkers: 2,
      backend,
      args: { mode: 'env' },
      env: { COLLECTIVE_TRAIN_TEST_VALUE: `seen by ${backend}` },
    });
    expect(value).toBe(`seen by ${backend}`);
  });

  it.each(BACKENDS)(
    'starts every worker fresh: no module state survives from an earlier run (%s)',
    async (backend) => {
      for (let run = 0; run < 2; run++) {
        expect(await train(WORKER, { numWorkers: 3, backend, args: { mode: 'calls' } })).toBe('1,1,1');
      }
    },
  );

  it("backend 'auto' picks tcp when COLLECTIVE_TCP_COORDINATOR is set, else shm", async () => {
    const sum = { mode: 'sum' } as const;
    const onTcp = await train(WORKER, {
      numWorkers: 2,
      args: sum,
      env: { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1' },
    });
    const onShm = await train(WORKER, {
      numWorkers: 2,
      args: sum,
      env: { COLLECTIVE_TCP_COORDINATOR: undefined },
    });
    expect([(onTcp as { backend: string }).backend, (onShm as { backend: string }).backend]).toEqual([
      'tcp',
      'shm',
    ]);
  });

  it('runs three trainings at once without interfering', async () => {
    const runs = [
      train(WORKER, { numWorkers: 2, backend: 'tcp', args: { mode: 'sum' } }),
      train(WORKER, { numWorkers: 2, backend: 'tcp', args: { mode: 'sum' } }),
      train(WORKER, { numWorkers: 3, backend: 'shm', args: { mode: 'sum' } }),
    ];
    const totals = (await Promise.all(runs)).map((v) => (v as { total: number }).total);
    expect(totals).toEqual([3, 3, 6]);
  });
});

describe('train(): progress', () => {
  it.each(BACKENDS)('relays every event of every worker in order with %s', async (backend) => {
    const events = 25;
    const seen = new Map<number, number[]>();
    await train(WORKER, {
      numWorkers: 3,
      backend,
      args: { mode: 'progress', events },
      onProgress: (event) => {
        if (event['kind'] !== 'step') return;
        assert.equal(event['rank'], event.workerId);
        seen.set(event.workerId, [...(seen.get(event.workerId) ?? []), event['step'] as number]);
      },
    });
    const expected = Array.from({ length: events }, (_, i) => i);
    expect([...seen.keys()].sort()).toEqual([0, 1, 2]);
    for (const steps of seen.values()) expect(steps).toEqual(expected);
  });
});

describe('train(): failures stop everything and leave nothing behind', () => {
  it.each(BACKENDS)(
    'a worker that throws rejects with WorkerError carrying its error (%s)',
    async (backend) => {
      const before = activeResources();
      const { result, pids } = await trainCollecting(backend, 3, { mode: 'throw', failRank: 1 });
      const error = await expectFailure(result);
      assert.ok(error instanceof WorkerError, String(error));
      expect(error.rank).toBe(1);
      expect(error.exitCode).toBe(1);
      expect(error.signal).toBeNull();
      expect(error.inner).toMatchObject({
        name: 'FixtureFailure',
        message: 'rank 1 gave up',
        code: 'E_FIXTURE',
      });
      expect(error.inner?.stack).toContain('fixtures/worker.ts');
      expect(error.message).toMatch(/^worker rank 1 threw FixtureFailure: rank 1 gave up/);
      assertAllGone(pids);
      await assertNoExtraResources(before);
    },
  );

  it.each(BACKENDS)(
    'a worker that calls process.exit(3) rejects with exitCode 3 and no inner error (%s)',
    async (backend) => {
      const before = activeResources();
      const { result, pids } = await trainCollecting(backend, 3, { mode: 'exit', failRank: 2 });
      const error = await expectFailure(result);
      assert.ok(error instanceof WorkerError, String(error));
      expect({
        rank: error.rank,
        exitCode: error.exitCode,
        signal: error.signal,
        inner: error.inner,
      }).toEqual({
        rank: 2,
        exitCode: 3,
        signal: null,
        inner: null,
      });
      assertAllGone(pids);
      await assertNoExtraResources(before);
    },
  );

  it('a worker killed by SIGKILL rejects with signal SIGKILL and exitCode null (tcp)', async () => {
    const before = activeResources();
    const { result, pids } = await trainCollecting('tcp', 3, { mode: 'sigkill', failRank: 1 });
    const error = await expectFailure(result);
    assert.ok(error instanceof WorkerError, String(error));
    expect({ rank: error.rank, exitCode: error.exitCode, signal: error.signal, inner: error.inner }).toEqual({
      rank: 1,
      exitCode: null,
      signal: 'SIGKILL',
      inner: null,
    });
    assertAllGone(pids);
    await assertNoExtraResources(before);
  });

  it.each([
    ['shm', 'hang'],
    ['shm', 'spin'],
    ['tcp', 'hang'],
    ['tcp', 'spin'],
  ] as const)('timeoutMs stops %s workers that %s and rejects with Timeout', async (backend, mode) => {
    const before = activeResources();
    const started = Date.now();
    const { result, pids } = await trainCollecting(backend, 2, { mode }, { timeoutMs: 1_000 });
    const error = await expectFailure(result);
    assert.ok(error instanceof CommError, String(error));
    expect(error.code).toBe('Timeout');
    expect(error.details).toMatchObject({ timeoutMs: 1_000, missing: [0, 1] });
    // Stopped within the 2 s reap bound after the timeout fired.
    expect(Date.now() - started).toBeLessThan(1_000 + 2_000 + 1_000);
    assertAllGone(pids);
    await assertNoExtraResources(before);
  });

  it.each(BACKENDS)(
    'an aborted signal stops every worker and rejects with its reason (%s)',
    async (backend) => {
      const before = activeResources();
      const controller = new AbortController();
      const reason = new Error('the user changed their mind');
      let startedWorkers = 0;
      const { result, pids } = await trainCollecting(
        backend,
        2,
        { mode: 'hang' },
        {
          signal: controller.signal,
          // Abort once both workers are running, so there is something to stop.
          onProgress: (event) => {
            if (event['kind'] === 'started' && ++startedWorkers === 2) controller.abort(reason);
          },
        },
      );
      expect(await expectFailure(result)).toBe(reason);
      assertAllGone(pids);
      await assertNoExtraResources(before);
    },
  );

  it('an onProgress that throws stops every worker and rejects with its error', async () => {
    const before = activeResources();
    const thrown = new Error('the dashboard is down');
    const { result, pids } = await trainCollecting(
      'tcp',
      2,
      { mode: 'progress', events: 1_000 },
      {
        onProgress: (event) => {
          if (event['kind'] === 'step') throw thrown;
        },
      },
    );
    expect(await expectFailure(result)).toBe(thrown);
    assertAllGone(pids);
    await assertNoExtraResources(before);
  });

  it('one worker in this thread: a throw is a WorkerError of rank 0, a timeout a Timeout', async () => {
    const thrown = await expectFailure(train(WORKER, { args: { mode: 'throw', failRank: 0 } }));
    assert.ok(thrown instanceof WorkerError, String(thrown));
    expect({ rank: thrown.rank, exitCode: thrown.exitCode, name: thrown.inner?.name }).toEqual({
      rank: 0,
      exitCode: 1,
      name: 'FixtureFailure',
    });
    const timedOut = await expectFailure(train(WORKER, { args: { mode: 'hang' }, timeoutMs: 100 }));
    assert.ok(timedOut instanceof CommError, String(timedOut));
    expect(timedOut.code).toBe('Timeout');
  });

  it('a result that cannot be cloned fails the worker with the clone error', async () => {
    const error = await expectFailure(
      train(WORKER, { numWorkers: 2, backend: 'shm', args: { mode: 'unclonable' } }),
    );
    assert.ok(error instanceof WorkerError, String(error));
    expect(error.rank).toBe(0);
    expect(error.inner?.name).toBe('DataCloneError');
  });
});

describe('train(): validation before anything starts', () => {
  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['numWorkers 0', () => train(WORKER, { numWorkers: 0 }), /numWorkers must be an integer >= 1, got 0/],
    [
      'numWorkers 2.5',
      () => train(WORKER, { numWorkers: 2.5 }),
      /numWorkers must be an integer >= 1, got 2.5/,
    ],
    [
      'local with 2 workers',
      () => train(WORKER, { numWorkers: 2, backend: 'local' }),
      /local backend has one rank/,
    ],
    [
      'mpi with 2 workers',
      () => train(WORKER, { numWorkers: 2, backend: 'mpi' }),
      /mpi backend has its ranks started by mpirun, but numWorkers is 2/,
    ],
    ['a missing module', () => train('./no/such/worker.ts', { numWorkers: 2 }), /does not exist/],
    [
      'a module without a default function',
      () => train(new URL('./fixtures/no-default.ts', import.meta.url), { numWorkers: 2 }),
      /has no default export function/,
    ],
    [
      'a negative timeoutMs',
      () => train(WORKER, { numWorkers: 2, timeoutMs: -1 }),
      /timeoutMs must be a positive number/,
    ],
  ];
  it.each(cases)('rejects %s with BackendError IncompatibleSettings', async (_name, call, message) => {
    const error = await expectFailure(call());
    assert.ok(error instanceof BackendError, String(error));
    expect(error.kind).toBe('IncompatibleSettings');
    expect(error.message).toMatch(message);
    expect(error.suggestion).not.toBe('');
  });
});
