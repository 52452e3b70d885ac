/**
 * A bad backend name is one error wherever it is written (spec/selection.md §6): init({ backend }),
 * COLLECTIVE_BACKEND, train({ backend }) and `collective run --backend` (or COLLECTIVE_BACKEND in the
 * launcher's environment) all raise BackendError 'InvalidBackend' with the same message shape.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BackendError, init, train } from '../../src/index.js';
import { childEnv } from './fixtures/child-env.js';

const WORKER = new URL('../launch/fixtures/worker.ts', import.meta.url);
const RANK_SCRIPT = fileURLToPath(new URL('../launch/fixtures/rank-behaviour.ts', import.meta.url));
const CLI = fileURLToPath(new URL('./fixtures/cli.ts', import.meta.url));
/** Generous: tsx compiles the CLI on a loaded 2-core machine. */
const CHILD_TIMEOUT_MS = 30_000;
const AVAILABLE = ['auto', 'local', 'shm', 'tcp', 'ws', 'mpi'];

/** The one shape: `unknown backend <where>="<name>"; available: … — set <where> to one of …`. */
function shape(where: string, name: string): string {
  const list = AVAILABLE.join(', ');
  return `unknown backend ${where}=${JSON.stringify(name)}; available: ${list} — set ${where} to one of ${list}`;
}

async function invalidBackend(call: Promise<unknown>, where: string, name: string): Promise<void> {
  const error = await call.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendError);
  const backendError = error as BackendError;
  expect(backendError.kind).toBe('InvalidBackend');
  expect(backendError.message.startsWith(shape(where, name))).toBe(true);
  expect(backendError.context).toEqual({ variable: where, value: name, available: AVAILABLE });
}

function collectiveRun(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'run', ...args], {
      env: childEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a bad backend name', () => {
  it('init({ backend })', async () => {
    await invalidBackend(init({ backend: 'gloo' as never, env: {} }), 'options.backend', 'gloo');
  });

  it('COLLECTIVE_BACKEND read by init()', async () => {
    await invalidBackend(init({ env: { COLLECTIVE_BACKEND: 'gloo' } }), 'COLLECTIVE_BACKEND', 'gloo');
  });

  it('train({ backend })', async () => {
    await invalidBackend(
      train(WORKER, { numWorkers: 2, backend: 'gloo' as never }),
      'options.backend',
      'gloo',
    );
  });

  it('train() reads names as init() does: trimmed, any case', async () => {
    const result = await train<{ backend: string; total: number }>(WORKER, {
      numWorkers: 2,
      backend: ' SHM ' as never,
      args: { mode: 'sum' },
    });
    expect(result).toMatchObject({ backend: 'shm', total: 3 });
  });

  it.each([
    [['--backend', 'gloo'], {}, '--backend'],
    [[], { COLLECTIVE_BACKEND: 'gloo' }, 'COLLECTIVE_BACKEND'],
  ])('collective run %j %j: the same message, status 2', async (flags, env, where) => {
    const ran = await collectiveRun(['-n', '2', ...flags, RANK_SCRIPT, 'hello'], env);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain(`collective run: BackendError InvalidBackend: ${shape(where, 'gloo')}`);
  });
});
