/**
 * connectWs (spec/backend-ws.md §9): a group over WebSocket links on 127.0.0.1, rank 0 standalone
 * or attached to an http.Server on a path; a collective whose batch is larger than the WebSocket
 * message limit is cut at whole frames (§5); bad options fail before anything listens.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { connectWs, WS_MAX_MESSAGE_BYTES, type WsOptions } from '../../../src/backends/ws/index.js';
import { BackendError } from '../../../src/communicator/errors.js';
import { resolveWsOptions } from '../../../src/backends/ws/options.js';

const BASE = { timeoutSecs: 30, connectTimeoutSecs: 30 };

let open: Communicator[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.map((c) => c.close()));
  open = [];
  for (const server of servers.splice(0)) server.close();
});

/** Rank 0 standalone on an ephemeral port; the others dial the URL it reports (or host:port). */
async function formStandalone(
  size: number,
  extra: Partial<WsOptions> = {},
  byUrl = true,
): Promise<Communicator[]> {
  let reportPort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => (reportPort = resolve));
  const rank0 = connectWs({
    ...BASE,
    ...extra,
    rank: 0,
    size,
    port: 0,
    onListening: (a) => reportPort(a.port),
  });
  const p = await port;
  const others = Array.from({ length: size - 1 }, (_, i) =>
    connectWs({
      ...BASE,
      ...extra,
      rank: i + 1,
      size,
      ...(byUrl ? { url: `ws://127.0.0.1:${p}/` } : { host: '127.0.0.1', port: p }),
    }),
  );
  open = await Promise.all([rank0, ...others]);
  return open;
}

async function sums(comms: Communicator[], n: number): Promise<Float64Array[]> {
  return Promise.all(comms.map((c) => c.allreduce(Float64Array.from({ length: n }, (_, i) => i + c.rank))));
}

describe('connectWs', () => {
  it('2 ranks, rank 0 standalone, rank 1 by url: allreduce, broadcast, barrier', async () => {
    const comms = await formStandalone(2);
    const got = await sums(comms, 5);
    for (const g of got) expect(Array.from(g)).toEqual([1, 3, 5, 7, 9]);
    const objects = await Promise.all(comms.map((c) => c.allgather({ rank: c.rank })));
    for (const o of objects) expect(o).toEqual([{ rank: 0 }, { rank: 1 }]);
    await Promise.all(comms.map((c) => c.barrier()));
  });

  it('3 ranks dialling host:port (no url) with a token', async () => {
    const comms = await formStandalone(3, { token: 'secret' }, false);
    const got = await sums(comms, 3);
    for (const g of got) expect(Array.from(g)).toEqual([3, 6, 9]);
  });

  it(`a batch larger than the message limit (${WS_MAX_MESSAGE_BYTES} B) is cut at whole frames`, async () => {
    // Begin + every chunk of 24 MiB leave as one writer batch: three times the limit.
    const comms = await formStandalone(2, { chunkBytes: 1024 * 1024 });
    const n = (3 * WS_MAX_MESSAGE_BYTES) / 8;
    const got = await sums(comms, Math.floor(n));
    for (const g of got) {
      expect(g[0]).toBe(1);
      expect(g[g.length - 1]).toBe(2 * (g.length - 1) + 1);
    }
  });

  it('rank 0 attached to an http.Server on a path; the server keeps answering plain HTTP', async () => {
    const server = createServer((_req, res) => res.end('app'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const rank0 = connectWs({ ...BASE, rank: 0, size: 2, server, path: '/collective' });
    const rank1 = connectWs({ ...BASE, rank: 1, size: 2, url: `ws://127.0.0.1:${port}/collective` });
    open = await Promise.all([rank0, rank1]);
    const got = await sums(open, 2);
    for (const g of got) expect(Array.from(g)).toEqual([1, 3]);
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(body).toBe('app');
  });

  it('refuses to serve beyond loopback without a token, and a bad url, before anything listens', async () => {
    await expect(connectWs({ ...BASE, rank: 0, size: 2, host: '10.1.2.3', port: 0 })).rejects.toMatchObject({
      message: expect.stringMatching(/^ws: rank 0 would listen/),
      kind: 'IncompatibleSettings',
      context: { field: 'token' },
    });
    const server = createServer();
    await expect(connectWs({ ...BASE, rank: 0, size: 2, server })).rejects.toMatchObject({
      kind: 'IncompatibleSettings',
      context: { field: 'server' },
    });
    await expect(connectWs({ ...BASE, rank: 1, size: 2, url: 'http://x/' })).rejects.toMatchObject({
      kind: 'IncompatibleSettings',
      context: { field: 'url' },
    });
  });

  it("rejects with BackendError InitializationFailed naming the port when rank 0's port is taken", async () => {
    let port = 0;
    open.push(await connectWs({ ...BASE, rank: 0, size: 1, port: 0, onListening: (a) => (port = a.port) }));
    const error = await connectWs({ ...BASE, rank: 0, size: 2, port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ kind: 'InitializationFailed', context: { port, errno: 'EADDRINUSE' } });
    expect((error as Error).message).toContain(String(port));
    expect((error as BackendError).suggestion).toMatch(/port 0/);
  });

  it("refuses allowedOrigins ['*'] without a token or allowInsecure (any visited page could join), before anything listens", async () => {
    let listened = false;
    const anyPage = {
      ...BASE,
      rank: 0,
      size: 2,
      port: 0,
      allowedOrigins: ['*'],
      onListening: () => (listened = true),
    };
    const error = await connectWs(anyPage).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'IncompatibleSettings', context: { field: 'allowedOrigins' } });
    expect((error as Error).message).toMatch(/allowedOrigins/);
    expect((error as Error).message).toMatch(/token/);
    expect(listened).toBe(false);
    // With a token (or allowInsecure) a page must still prove it holds the token, so '*' is accepted.
    const comms = await formStandalone(2, { allowedOrigins: ['*'], token: 'star-origins-token' });
    expect(comms).toHaveLength(2);
    expect(() => resolveWsOptions({ ...anyPage, allowInsecure: true })).not.toThrow();
  });
});
