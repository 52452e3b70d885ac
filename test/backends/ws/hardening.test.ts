/**
 * The ws listener against hostile or odd peers over real sockets on 127.0.0.1 (spec/backend-ws.md
 * §3–§5): unparsable request targets, held (paused) page links under keepalive, and the bound on
 * unauthenticated connections.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isDialError, type Link } from '../../../src/backends/link/link.js';
import { WsListener } from '../../../src/backends/ws/ws-listener.js';
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
