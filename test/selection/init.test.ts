/**
 * init() end to end, in this process and in children: the local pick, typed errors for bad names and
 * unreachable or taken coordinators (real sockets), lazy backend loading, and the once-only warnings.
 */
import { loadAddon } from '../../src/backends/mpi/addon.js';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendError } from '../../src/communicator/errors.js';
import { availableBackends, init } from '../../src/index.js';
import { childEnv } from './fixtures/child-env.js';
import { codes, recordWarnings, warningsDelivered, type WarningRecorder } from '../support/warnings.js';

/** A listening server on an ephemeral loopback port. */
async function listening(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

const portOf = (server: Server): number => (server.address() as { port: number }).port;

async function closedPort(): Promise<number> {
  const server = await listening();
  const port = portOf(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function rejection(promise: Promise<unknown>): Promise<BackendError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendError);
  return error as BackendError;
}

const held: Server[] = [];
let warnings: WarningRecorder;
beforeEach(() => {
  warnings = recordWarnings();
});
afterEach(async () => {
  // A test takes the warnings it expects; any other is reported here.
  await warningsDelivered();
  const unexpected = warnings.take();
  warnings.stop();
  expect(unexpected, 'unexpected warnings').toEqual([]);
  await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('init', () => {
  it('with nothing set gives a working local communicator', async () => {
    const comm = await init({ env: {} });
    expect([comm.backend, comm.rank, comm.size]).toEqual(['local', 0, 1]);
    expect(Array.from(await comm.allreduce(Float64Array.from([1.5, -2])))).toEqual([1.5, -2]);
    await comm.close();
  });

  it('rejects an unknown backend with the list of available ones', async () => {
    const error = await rejection(init({ env: { COLLECTIVE_BACKEND: 'gloo' } }));
    expect(error.kind).toBe('InvalidBackend');
    expect(error.context['available']).toEqual(['auto', 'local', 'shm', 'tcp', 'ws', 'mpi']);
  });

  it('rejects options that are not an object', async () => {
    const error = await rejection(init(null as never));
    expect(error.kind).toBe('IncompatibleSettings');
    expect(error.context['variable']).toBe('options');
  });

  it('availableBackends() lists every registered backend', () => {
    expect(availableBackends().map((b) => [b.name, b.available])).toEqual([
      ['local', true],
      ['shm', true],
      ['tcp', true],
      ['ws', true],
      // Where the install built the MPI addon (spec/backend-mpi.md §2); without-mpi.test.ts covers the other case.
      ['mpi', loadAddon().loaded],
    ]);
  });

  it('an unreachable coordinator → InitializationFailed with address, errno and what to set', async () => {
    const port = await closedPort();
    const error = await rejection(
      init({
        env: {},
        backend: 'tcp',
        rank: 1,
        size: 2,
        coordinator: `127.0.0.1:${port}`,
        connectTimeoutSecs: 1,
      }),
    );
    expect(error.kind).toBe('InitializationFailed');
    expect(error.context).toMatchObject({ address: `127.0.0.1:${port}`, errno: 'ECONNREFUSED' });
    expect(error.suggestion).toContain('COLLECTIVE_TCP_COORDINATOR');
    await warningsDelivered();
    expect(codes(warnings.take())).toEqual(['COLLECTIVE_NO_JOB_ID']);
  });

  it('a coordinator name that does not resolve fails at once, not after the connect timeout', async () => {
    const started = Date.now();
    const error = await rejection(
      init({
        env: {},
        backend: 'tcp',
        rank: 1,
        size: 2,
        // RFC 6761: .invalid never resolves.
        coordinator: 'no-such-host.invalid:29511',
        connectTimeoutSecs: 120,
      }),
    );
    expect(error.kind).toBe('InitializationFailed');
    expect(error.context).toMatchObject({ address: 'no-such-host.invalid:29511' });
    expect(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']).toContain(error.context['errno']);
    expect(error.suggestion).toContain('does not resolve');
    // Generous: the lookup answers in well under a second; EAI_AGAIN is retried for a stated 5 s.
    expect(Date.now() - started).toBeLessThan(30_000);
    await warningsDelivered();
    expect(codes(warnings.take())).toEqual(['COLLECTIVE_NO_JOB_ID']);
  });

  it('a coordinator port taken by another job → InitializationFailed telling to set COLLECTIVE_TCP_PORT', async () => {
    const other = await listening();
    held.push(other);
    const env = { COLLECTIVE_RANK: '0', COLLECTIVE_SIZE: '2', COLLECTIVE_TCP_PORT: String(portOf(other)) };
    const error = await rejection(init({ env: { ...env, COLLECTIVE_TCP_COORDINATOR: '127.0.0.1' } }));
    expect(error.kind).toBe('InitializationFailed');
    expect(error.context).toMatchObject({ errno: 'EADDRINUSE' });
    expect(error.suggestion).toContain('set COLLECTIVE_TCP_PORT');
    await warningsDelivered();
    expect(codes(warnings.take())).toEqual(['COLLECTIVE_NO_JOB_ID']);
  });

  it('loads a backend module only when it is selected', async () => {
    const program = fileURLToPath(new URL('./fixtures/lazy-rank.ts', import.meta.url));
    const poison = fileURLToPath(new URL('./fixtures/poison-backends.mjs', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--import', poison, program], {
        env: childEnv({}),
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 30_000,
        killSignal: 'SIGKILL',
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`))));
    });
    const result = JSON.parse(stdout);
    expect(result.local).toEqual({ backend: 'local', size: 1, described: 'local' });
    expect(result.tcp).toMatchObject({ kind: 'BackendNotAvailable', context: { backend: 'tcp' } });
    expect(result.tcp.message).toContain('poisoned import');
  });

  it('warns once about tcp between the threads of one process', async () => {
    const port = await closedPort();
    const tsxApi = join(
      dirname(createRequire(import.meta.url).resolve('tsx/package.json')),
      'dist/esm/api/index.mjs',
    );
    const program = new URL('./fixtures/tcp-thread-rank.ts', import.meta.url);
    // Worker threads on Node 20 ignore --import in execArgv, so the thread registers tsx itself.
    const boot = `import(${JSON.stringify(pathToFileURL(tsxApi).href)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(program.href)}); });`;
    const report = await new Promise<{ warnings: string[] }>((resolve, reject) => {
      const worker = new Worker(boot, { eval: true, workerData: { port } });
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
    });
    expect(report.warnings).toEqual(['COLLECTIVE_TCP_BETWEEN_THREADS']);
  });
});
