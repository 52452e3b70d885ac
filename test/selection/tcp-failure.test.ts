/**
 * A tcp start failure at the selection level names the address, the errno and the remedy in the
 * user's terms (spec/selection.md §6) — and only facts that apply: a listen failure has no connect
 * timeout.
 */
import { createServer } from 'node:net';
import { expect, it } from 'vitest';
import { init } from '../../src/index.js';
import type { BackendError } from '../../src/communicator/errors.js';

it('rank 0 that cannot listen (EADDRINUSE) says so, without a connect timeout', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    const env = {
      COLLECTIVE_RANK: '0',
      COLLECTIVE_SIZE: '2',
      COLLECTIVE_TCP_COORDINATOR: '127.0.0.1',
      COLLECTIVE_TCP_PORT: String(port),
      COLLECTIVE_JOB_ID: 'tcp-failure-test',
    };
    const e = (await init({ backend: 'tcp', env }).then(
      () => null,
      (error: unknown) => error,
    )) as BackendError;
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(
      new RegExp(`rank 0 could not listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`),
    );
    expect(e.message).not.toMatch(/connect timeout/);
    expect(e.suggestion).toMatch(/COLLECTIVE_TCP_PORT/);
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});
