/**
 * The ws listener against hostile or odd peers over real sockets on 127.0.0.1 (spec/backend-ws.md
 * §3–§5): unparsable request targets, held (paused) page links under keepalive, and the bound on
 * unauthenticated connections.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isDialError, type Link } from '../../../src/backends/link/link.js';
import { WsLink, KEEPALIVE_INTERVAL_MS, KEEPALIVE_SILENCE_MS } from '../../../src/backends/ws/ws-link.js';
import { WsListener } from '../../../src/backends/ws/ws-listener.js';
import { connectWs, WS_MAX_MESSAGE_BYTES } from '../../../src/backends/ws/index.js';
import { WS_MAX_PENDING_HANDSHAKES } from '../../../src/backends/ws/limits.js';
import { resolveWsOptions } from '../../../src/backends/ws/options.js';
import { dialerFor, MAX_PAYLOAD, Recorder } from './support.js';

/** Sends an upgrade request for `target` on a raw socket; resolves with everything the server answered. */
async function rawUpgrade(port: number, target: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.write(
    `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  await once(socket, 'close');
  return answer;
}

/** A real link still connects and carries a message through `listener` at `url`. */
async function stillServes(listener: WsListener, url: string): Promise<void> {
  const accepted = new Promise<Link>((resolve) => (listener.onLink = resolve));
  const link = await dialerFor('ws', url)();
  if (isDialError(link)) throw new Error(link.message);
  const server = await accepted;
  const r = new Recorder(server);
  link.write([Uint8Array.of(1, 2, 3)]);
  await r.count(1);
  link.destroy();
  server.destroy();
}

const BASE = { timeoutSecs: 30, connectTimeoutSecs: 30 };
const BAD_TARGETS = ['//[', '//%', '//x:99999'];

describe('ws listener: unparsable request targets', () => {
  it('attached to an http.Server: each gets HTTP 400, the server stays up, a real link still connects', async () => {
    const http = createServer((_req, res) => res.end('page'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const listener = WsListener.attach({ server: http, path: '/collective', maxPayload: MAX_PAYLOAD });
    try {
      for (const target of BAD_TARGETS) expect(await rawUpgrade(port, target)).toMatch(/^HTTP\/1\.1 400 /);
      await stillServes(listener, `ws://127.0.0.1:${port}/collective`);
    } finally {
      listener.close();
      http.close();
    }
  });

  it('standalone with a path: each gets HTTP 400, the listener stays up, a real link still connects', async () => {
    const listener = await WsListener.listen({
      host: '127.0.0.1',
      port: 0,
      path: '/c',
      maxPayload: MAX_PAYLOAD,
    });
    try {
      for (const target of BAD_TARGETS)
        expect(await rawUpgrade(listener.port!, target)).toMatch(/^HTTP\/1\.1 400 /);
      await stillServes(listener, `ws://127.0.0.1:${listener.port}/c?x=1`);
    } finally {
      listener.close();
    }
  });
});

describe('ws keepalive while rank 0 holds a link', () => {
  it(`a page link paused on rank 0's side for twice KEEPALIVE_SILENCE_MS (${KEEPALIVE_SILENCE_MS} ms) stays open, and works after resume()`, async () => {
    const page = 'http://page.example';
    const listener = await WsListener.listen({
      host: '127.0.0.1',
      port: 0,
      maxPayload: MAX_PAYLOAD,
      allowedOrigins: [page],
    });
    const accepted = new Promise<Link>((resolve) => (listener.onLink = resolve));
    // The page: ws's own client, so its 'ping' events show rank 0's keepalive ticking.
    const client = new WebSocket(`ws://127.0.0.1:${listener.port}/`, { origin: page });
    let pings = 0;
    let closedWith: Error | null | undefined;
    const wakes: Array<() => void> = [];
    client.on('ping', () => {
      pings++;
      for (const wake of wakes.splice(0)) wake();
    });
    const pingsSeen = async (n: number): Promise<void> => {
      while (pings < n && closedWith === undefined) await new Promise<void>((wake) => wakes.push(wake));
    };
    try {
      await once(client, 'open');
      const server = await accepted;
      const r = new Recorder(server);
      // A link destroyed by keepalive sends no more pings: end the wait then, so the test fails fast.
      void r.closed.then((error) => {
        closedWith = error;
        for (const wake of wakes.splice(0)) wake();
      });
      server.pause();
      // Twice the silence limit in ping intervals: the unpaused check would have fired by the middle.
      const start = pings;
      await pingsSeen(start + Math.ceil((2 * KEEPALIVE_SILENCE_MS) / KEEPALIVE_INTERVAL_MS));
      expect(closedWith).toBeUndefined();
      expect(server.writable).toBe(true);
      server.resume();
      client.send(Uint8Array.of(7, 8, 9));
      await r.count(1);
      const back = new Promise<Buffer>((resolve) => client.once('message', resolve));
      server.write([Uint8Array.of(1)]);
      expect([...(await back)]).toEqual([1]);
      // Pings after resume are answered and read: the link stays open past another silence limit.
      await pingsSeen(pings + Math.ceil(KEEPALIVE_SILENCE_MS / KEEPALIVE_INTERVAL_MS) + 2);
      expect(closedWith).toBeUndefined();
      expect(server).toBeInstanceOf(WsLink);
      server.destroy();
    } finally {
      client.terminate();
      listener.close();
    }
  });
});

describe('ws: the bound on unauthenticated connections', () => {
  it(`rank 0 holds at most WS_MAX_PENDING_HANDSHAKES (8) connections in the handshake: the 9th evicts the oldest`, async () => {
    expect(WS_MAX_PENDING_HANDSHAKES).toBe(8);
    expect(resolveWsOptions({ ...BASE, rank: 0, size: 2 }).maxPendingHandshakes).toBe(
      WS_MAX_PENDING_HANDSHAKES,
    );
    // Each may make rank 0 buffer one message of up to WS_MAX_MESSAGE_BYTES before it authenticates.
    expect(WS_MAX_PENDING_HANDSHAKES * WS_MAX_MESSAGE_BYTES).toBeLessThanOrEqual(65 * 1024 * 1024);
    const token = 'pending-bound-token';
    const warnings: string[] = [];
    let reportPort: (port: number) => void = () => {};
    const portKnown = new Promise<number>((resolve) => (reportPort = resolve));
    const rank0 = connectWs({
      ...BASE,
      rank: 0,
      size: 2,
      token,
      onListening: (a) => reportPort(a.port),
      onWarning: (message) => warnings.push(message),
    });
    const port = await portKnown;
    const url = `ws://127.0.0.1:${port}/`;
    // Bare connections: upgraded, never a Handshake. Rank 0 took each once its 101 arrived here.
    const bare = async (): Promise<WebSocket> => {
      const ws = new WebSocket(url);
      await once(ws, 'open');
      return ws;
    };
    const holders: WebSocket[] = [];
    for (let i = 0; i < WS_MAX_PENDING_HANDSHAKES; i++) holders.push(await bare());
    const closes = holders.map((ws, i) => once(ws, 'close').then(() => i));
    const newcomer = await bare();
    try {
      expect(await Promise.race(closes)).toBe(0);
      expect(warnings[0]).toMatch(
        new RegExp(`${WS_MAX_PENDING_HANDSHAKES} connections were in the handshake`),
      );
      for (const ws of [...holders, newcomer]) ws.terminate();
      const comms = await Promise.all([rank0, connectWs({ ...BASE, rank: 1, size: 2, token, url })]);
      const sums = await Promise.all(comms.map((c) => c.allreduce(Float64Array.of(c.rank + 1))));
      for (const s of sums) expect(Array.from(s)).toEqual([3]);
      await Promise.all(comms.map((c) => c.close()));
    } finally {
      for (const ws of [...holders, newcomer]) ws.terminate();
    }
  }, 20_000);
});
