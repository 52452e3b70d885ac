/**
 * Selecting ws through init() (spec/selection.md §3, §5.1, §5.2): rank 0 attached to an http.Server
 * by `server`/`path`, rank 1 by COLLECTIVE_WS_URL with no coordinator; a bad url names its source;
 * auto with a coordinator still picks tcp.
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { describeEnvironment, init } from '../../src/index.js';

describe('init({ backend: ws })', () => {
  it('rank 0 on a server path, rank 1 by COLLECTIVE_WS_URL: comm.backend is ws and allreduce works', async () => {
    const server = createServer((_req, res) => res.end('app'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const common = { backend: 'ws' as const, size: 2, jobId: 'ws-init' };
      const comms = await Promise.all([
        init({ ...common, rank: 0, server, path: '/c', env: {} }),
        init({ ...common, rank: 1, env: { COLLECTIVE_WS_URL: `ws://127.0.0.1:${port}/c` } }),
      ]);
      try {
        for (const c of comms) expect(c.backend).toBe('ws');
        const got = await Promise.all(comms.map((c) => c.allreduce(Int32Array.of(c.rank + 1))));
        for (const g of got) expect(Array.from(g)).toEqual([3]);
      } finally {
        await Promise.all(comms.map((c) => c.close()));
      }
    } finally {
      server.close();
    }
  });

  it('a url that is not ws:// or wss:// is IncompatibleSettings naming its source', async () => {
    await expect(
      init({ backend: 'ws', rank: 1, size: 2, env: { COLLECTIVE_WS_URL: 'http://h:1/' } }),
    ).rejects.toMatchObject({
      kind: 'IncompatibleSettings',
      message: expect.stringContaining('COLLECTIVE_WS_URL'),
    });
  });

  it('auto with a coordinator named picks tcp, never ws', () => {
    const report = describeEnvironment({
      env: { COLLECTIVE_RANK: '0', COLLECTIVE_SIZE: '2', COLLECTIVE_TCP_COORDINATOR: '127.0.0.1:29999' },
    });
    expect(report.selection?.backend).toBe('tcp');
  });
});
