/**
 * A ws group's messages name the ws backend (spec/backend-ws.md §9.1): the star protocol is shared
 * with tcp, but a user who chose ws must not read "tcp rank 0: …" in a warning or an error. Covers
 * rank 0's refusal warning, a worker's handshake error, and rank 0's formation timeout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectWs } from '../../../src/backends/ws/index.js';
import { BackendError } from '../../../src/communicator/errors.js';
import type { Communicator } from '../../../src/communicator/communicator.js';

const BASE = { timeoutSecs: 30, connectTimeoutSecs: 30 };
let open: Communicator[] = [];
afterEach(async () => {
  await Promise.all(open.map((c) => c.close()));
  open = [];
});

async function rejection(join: Promise<Communicator>): Promise<BackendError> {
  const error = await join.then(
    (comm) => {
      open.push(comm);
      throw new Error('joined');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendError);
  return error as BackendError;
}

describe('ws messages name the ws backend', () => {
  it('a refused worker: rank 0 warns "ws rank 0: …", the worker fails with "ws rank 1: …"', async () => {
    const warnings: string[] = [];
    let reportPort: (port: number) => void = () => {};
    const port = new Promise<number>((resolve) => (reportPort = resolve));
    const rank0 = connectWs({
      ...BASE,
      rank: 0,
      size: 2,
      port: 0,
      token: 'right-token-of-this-group',
      onWarning: (m) => warnings.push(m),
      onListening: (a) => reportPort(a.port),
    });
    const url = `ws://127.0.0.1:${await port}/`;
    const error = await rejection(
      connectWs({ ...BASE, rank: 1, size: 2, url, token: 'wrong-token-of-another-group' }),
    );
    expect(error.message).toMatch(/^ws rank 1: /);
    expect(warnings.some((w) => w.startsWith('ws rank 0: rejected a connection'))).toBe(true);
    expect(warnings.join('\n')).not.toMatch(/\btcp\b/);
    const rank1 = connectWs({ ...BASE, rank: 1, size: 2, url, token: 'right-token-of-this-group' });
    open.push(...(await Promise.all([rank0, rank1])));
  });

  it('a group never formed: rank 0 fails with "ws: rank 1 did not join …"', async () => {
    const error = await rejection(connectWs({ ...BASE, connectTimeoutSecs: 0.3, rank: 0, size: 2, port: 0 }));
    expect(error.kind).toBe('InitializationFailed');
    expect(error.message).toMatch(/^ws: rank 1 did not join rank 0 within 0.3 s/);
  });
});
