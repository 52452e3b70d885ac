/**
 * The WebSocket links over real sockets on 127.0.0.1 (spec/backend-ws.md): batches as messages,
 * done order, backpressure, clean and failed ends, maxPayload, origins, attaching to an http.Server,
 * keepalive, dial failure classes — for the Node link and the browser link (ws's class injected).
 */
import { once } from 'node:events';
import { createServer, get } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { isDialError, type Link } from '../../../src/backends/link/link.js';
import {
  DELIVERY_SLICE_BYTES,
  KEEPALIVE_DETECTION_BOUND_MS,
  wsDialer,
} from '../../../src/backends/ws/ws-link.js';
import { WsListener } from '../../../src/backends/ws/ws-listener.js';
import { WsLinkError } from '../../../src/backends/ws/ws-errors.js';
import {
  bytes,
  concat,
  dialerFor,
  listen,
  MAX_PAYLOAD,
  pair,
  Recorder,
  type ClientKind,
  type Pair,
} from './support.js';

const HEADER = 5;
/** Payload sizes around the ws length encodings (125/126, 65535/65536) and the 64 KiB read size. */
const SIZES = [0, 1, 8, 125, 126, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 2 * 1024 * 1024];

let open: Pair[] = [];
afterEach(() => {
  for (const p of open) p.close();
  open = [];
});

async function opened(kind: ClientKind, options?: Parameters<typeof pair>[1]): Promise<Pair> {
  const p = await pair(kind, options);
  open.push(p);
  return p;
}

/** Sends every size as a batch [header, payload] from `from`; checks `to` got the same bytes, in order. */
async function roundTrip(from: Link, to: Link): Promise<void> {
  const recorder = new Recorder(to);
  const batches = SIZES.map((size, i) => [bytes(HEADER, i), bytes(size, i + 7)]);
  const dones: number[] = [];
  const allDone = new Promise<void>((resolve) => {
    batches.forEach((batch, i) =>
      from.write(batch, () => {
        dones.push(i);
        if (dones.length === batches.length) resolve();
      }),
    );
  });
  from.write([], () => dones.push(-1)); // an empty batch: no message, its done still in order
  const sent = concat(batches.flat());
  await recorder.countBytes(sent.byteLength);
  await allDone;
  expect(Buffer.compare(concat(recorder.messages), sent)).toBe(0);
  expect(dones.slice(0, batches.length)).toEqual(batches.map((_, i) => i));
}

/**
 * Sends the same batches from a link of `kind` to a plain `ws` server (what a browser's WebSocket
 * sees: whole messages); checks each batch arrived as exactly one message.
 */
async function messagesOnTheWire(kind: ClientKind): Promise<void> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_PAYLOAD });
  await once(server, 'listening');
  const received: Buffer[] = [];
  const batches = SIZES.map((size, i) => [bytes(HEADER, i), bytes(size, i + 7), bytes(size >> 1, i + 9)]);
  const allReceived = new Promise<void>((resolve) =>
    server.on('connection', (peer) =>
      peer.on('message', (data: Buffer) => {
        received.push(data);
        if (received.length === batches.length) resolve();
      }),
    ),
  );
  const link = await dialerFor(kind, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`)();
  if (isDialError(link)) throw new Error(link.message);
  try {
    for (const batch of batches) link.write(batch);
    await allReceived;
    expect(received.map((m) => m.byteLength)).toEqual(batches.map((b) => concat(b).byteLength));
    received.forEach((message, i) => expect(Buffer.compare(message, concat(batches[i]!))).toBe(0));
  } finally {
    link.destroy();
    server.close();
  }
}

describe.each<ClientKind>(['ws', 'browser'])('%s client link', (kind) => {
  it("delivers each batch's bytes in order, with done callbacks in order, both ways", async () => {
    const { server, client } = await opened(kind);
    await roundTrip(server, client);
    await roundTrip(client, server);
  });

  it('sends each batch as one whole message (a plain ws peer receives it joined)', async () => {
    await messagesOnTheWire(kind);
  });

  it('end() closes both ends cleanly (null)', async () => {
    const { server, client } = await opened(kind);
    const s = new Recorder(server);
    const c = new Recorder(client);
    client.write([bytes(10, 1)]);
    client.end();
    expect(client.writable).toBe(false);
    await s.count(1);
    expect(await s.closed).toBeNull();
    expect(await c.closed).toBeNull();
  });

  it('destroy(error) reports that error here and an abnormal close to the peer', async () => {
    const { server, client } = await opened(kind);
    const s = new Recorder(server);
    const c = new Recorder(client);
    const why = new Error('rank left');
    server.destroy(why);
    expect(await s.closed).toBe(why);
    const seen = await c.closed;
    expect(seen).toBeInstanceOf(WsLinkError);
    expect((seen as WsLinkError).code).toBe('WS_CLOSE_1006');
    server.write([bytes(1, 1)], () => expect.unreachable('write after destroy is ignored'));
  });

  it('paused peer: nothing is delivered until resume (ws: the sender’s bufferedBytes grows), then all of it, in order', async () => {
    const { server, client } = await opened(kind);
    const c = new Recorder(client);
    client.pause();
    const BATCHES = 32;
    const PROBES = 20;
    const MIB = bytes(1024 * 1024, 3);
    let dones = 0;
    const firstDone = new Promise<void>((resolve) => server.write([MIB], resolve));
    const allDone = new Promise<void>((resolve) => {
      for (let i = 1; i < BATCHES; i++) server.write([MIB], () => ++dones === BATCHES - 1 && resolve());
    });
    await firstDone;
    // Round trips the other way give the paused side many chances to read; it must deliver nothing.
    const s = new Recorder(server);
    for (let i = 1; i <= PROBES; i++) {
      client.write([bytes(8, i)]);
      await s.count(i);
    }
    expect(c.messages).toHaveLength(0);
    // Loopback socket buffers hold a few MiB at most; the rest waits in the sender's queue. The
    // browser link cannot stop reading (its pause is a local queue), so only `ws` holds the sender back.
    if (kind === 'ws') {
      expect(server.bufferedBytes).toBeGreaterThan(16 * 1024 * 1024);
      expect(dones).toBeLessThan(BATCHES - 1);
    }
    client.resume();
    await c.countBytes(BATCHES * MIB.byteLength);
    await allDone;
    expect(Buffer.compare(concat(c.messages), concat(new Array<Uint8Array>(BATCHES).fill(MIB)))).toBe(0);
    expect(server.bufferedBytes).toBe(0);
  });

  it("a message over the receiver's maxPayload closes the link with a clear error on both ends", async () => {
    const { server, client } = await opened(kind, { maxPayload: 1024 });
    const s = new Recorder(server);
    const c = new Recorder(client);
    client.write([bytes(2048, 1)]);
    const there = (await s.closed) as WsLinkError;
    expect(there.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(there.message).toMatch(/maxPayload/);
    const here = (await c.closed) as WsLinkError;
    expect(here.code).toBe('WS_CLOSE_1009');
    expect(here.message).toMatch(/maxPayload/);
  });
});

describe('ws link receive slicing', () => {
  it('a Node link hands a big message up in slices of at most 64 KiB and stops at pause() between them (spec §2)', async () => {
    // A browser client joins its batch into one unfragmented 4 MiB message; the Node end slices it.
    const { server, client, close } = await pair('browser');
    const total = 4 * 1024 * 1024;
    const sent = bytes(total, 7);
    const received: Uint8Array[] = [];
    let all: () => void = () => {};
    const done = new Promise<void>((resolve) => (all = resolve));
    let count = 0;
    server.onData = (chunk) => {
      received.push(Uint8Array.from(chunk));
      if (received.length === 1) server.pause();
      if ((count += chunk.byteLength) === total) all();
    };
    client.write([sent]);
    // Round trips the other way give the paused end many turns: it must deliver nothing more.
    const c = new Recorder(client);
    while (received.length === 0) {
      server.write([bytes(8, 1)]);
      await c.count(c.messages.length + 1);
    }
    for (let i = 0; i < 5; i++) {
      server.write([bytes(8, i)]);
      await c.count(c.messages.length + 1);
    }
    expect(received).toHaveLength(1);
    expect(received[0]!.byteLength).toBeLessThanOrEqual(DELIVERY_SLICE_BYTES);
    server.resume();
    await done;
    expect(Math.max(...received.map((r) => r.byteLength))).toBeLessThanOrEqual(DELIVERY_SLICE_BYTES);
    expect(Buffer.compare(concat(received), sent)).toBe(0);
    close();
  });
});

describe('browser link done', () => {
  it('runs done once send() has taken the bytes (browsers copy at send), not when bufferedAmount drains: a paused receiver does not hold it back', async () => {
    const { server, client } = await opened('browser');
    server.pause();
    const BATCHES = 32;
    const MIB = bytes(1024 * 1024, 5);
    let dones = 0;
    const allDone = new Promise<string>((resolve) => {
      for (let i = 0; i < BATCHES; i++) client.write([MIB], () => ++dones === BATCHES && resolve('done'));
    });
    // Round trips the other way take many event-loop turns; every done must have run before them.
    const c = new Recorder(client);
    const probes = (async (): Promise<string> => {
      for (let i = 1; i <= 20; i++) {
        server.write([bytes(8, i)]);
        await c.count(i);
      }
      return 'probes first';
    })();
    expect(await Promise.race([allDone, probes])).toBe('done');
    await probes;
    // The bytes have not all left: the paused receiver holds the sender back (bufferedBytes).
    expect(client.bufferedBytes).toBeGreaterThan(0);
    const s = new Recorder(server);
    server.resume();
    await s.received(BATCHES * MIB.byteLength);
  });
});

describe('browser link destroy', () => {
  it('destroy(error) reports that error here and a failure (close code 4000, not a clean 1000) to rank 0', async () => {
    const { server, client } = await opened('browser');
    const s = new Recorder(server);
    const c = new Recorder(client);
    const why = new Error('page gave up');
    client.destroy(why);
    expect(await c.closed).toBe(why);
    const seen = await s.closed;
    expect(seen).toBeInstanceOf(WsLinkError);
    expect((seen as WsLinkError).code).toBe('WS_CLOSE_4000');
  });
});

describe('ws listener', () => {
  it('a foreign Origin gets HTTP 403 and the DialError names the allowed origins; no Origin and a listed one connect', async () => {
    const listener = await listen({ allowedOrigins: ['http://good.example:8080'] });
    const links: Link[] = [];
    listener.onLink = (link) => links.push(link);
    const url = `ws://127.0.0.1:${listener.port}/`;
    try {
      const refused = await wsDialer(url, { maxPayload: 1024, origin: 'http://evil.example' })();
      if (!isDialError(refused)) throw new Error('a foreign origin was let in');
      expect(refused).toMatchObject({ failure: 'other', code: 'HTTP 403' });
      expect(refused.message).toContain('http://evil.example');
      expect(refused.message).toContain('http://good.example:8080');
      for (const origin of [undefined, 'http://GOOD.example:8080']) {
        const ok = await dialerFor('ws', url, origin)();
        expect(isDialError(ok)).toBe(false);
        (ok as Link).destroy();
      }
    } finally {
      for (const link of links) link.destroy();
      listener.close();
    }
  });

  it('attached to an http.Server on /collective: links there, plain HTTP and other paths stay the server’s', async () => {
    const http = createServer((req, res) => res.end(`page ${req.url}`));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const listener = WsListener.attach({ server: http, path: '/collective', maxPayload: 1024 });
    const accepted = new Promise<Link>((resolve) => (listener.onLink = resolve));
    try {
      expect(listener.port).toBeNull();
      expect(listener.address).toBe(`ws://127.0.0.1:${port}/collective`);
      const link = await dialerFor('ws', `ws://127.0.0.1:${port}/collective?x=1`)();
      if (isDialError(link)) throw new Error(link.message);
      const server = await accepted;
      const r = new Recorder(server);
      link.write([bytes(3, 1)]);
      await r.count(1);
      for (const path of ['/', '/other', '/collective']) {
        const body = await new Promise<string>((resolve, reject) =>
          get(`http://127.0.0.1:${port}${path}`, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve(text));
          }).on('error', reject),
        );
        expect(body).toBe(`page ${path}`);
      }
      const elsewhere = await dialerFor('ws', `ws://127.0.0.1:${port}/other`)();
      expect(elsewhere).toMatchObject({ failure: 'refused', code: 'HTTP 404' });
      link.destroy();
      server.destroy();
    } finally {
      listener.close();
      http.close();
    }
  });

  it('reports a port in use with its code and what to do', async () => {
    const first = await listen();
    try {
      const error = await WsListener.listen({ host: '127.0.0.1', port: first.port!, maxPayload: 1024 }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WsLinkError);
      expect(error).toMatchObject({ code: 'EADDRINUSE' });
      expect((error as Error).message).toMatch(/another process listens there/);
    } finally {
      first.close();
    }
  });

  it(`destroys a page's link (Origin) that went silent, within the bound (${KEEPALIVE_DETECTION_BOUND_MS} ms), while a live idle link and a silent Node link (no Origin) stay`, async () => {
    const page = 'http://page.example';
    const listener = await listen({ allowedOrigins: [page] });
    const links: Link[] = [];
    let accepted: (link: Link) => void = () => {};
    listener.onLink = (link) => {
      links.push(link);
      accepted(link);
    };
    const next = (): Promise<Link> => new Promise<Link>((resolve) => (accepted = resolve));
    const url = `ws://127.0.0.1:${listener.port}/`;
    const live = await dialerFor('ws', url, page)();
    if (isDialError(live)) throw new Error(live.message);
    const liveClosed = new Recorder(live).closed.then(() => 'closed');
    // Raw TCP peers: each sends the upgrade request, reads the 101, then never answers a ping.
    const upgrade = (origin: string | null): string =>
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      (origin === null ? '' : `Origin: ${origin}\r\n`) +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const nodeAccepted = next();
    const rawNode = connect(listener.port!, '127.0.0.1');
    rawNode.write(upgrade(null));
    const nodeLink = await nodeAccepted;
    const nodeClosed = new Recorder(nodeLink).closed.then(() => 'closed');
    const pageAccepted = next();
    const rawPage = connect(listener.port!, '127.0.0.1');
    rawPage.write(upgrade(page));
    try {
      const silent = await pageAccepted;
      const started = Date.now();
      const error = await new Recorder(silent).closed;
      const elapsed = Date.now() - started;
      expect(error).toMatchObject({ code: 'WS_PING_TIMEOUT' });
      expect(elapsed).toBeLessThan(5000);
      // The live link answered every ping in the same time: still open. The Node link, silent for
      // longer, is never pinged (a Node rank may block its event loop between collectives): open.
      expect(await Promise.race([liveClosed, Promise.resolve('open')])).toBe('open');
      expect(await Promise.race([nodeClosed, Promise.resolve('open')])).toBe('open');
      expect(live.writable).toBe(true);
      expect(nodeLink.writable).toBe(true);
    } finally {
      rawPage.destroy();
      rawNode.destroy();
      live.destroy();
      for (const link of links) link.destroy();
      listener.close();
    }
  });
});

describe('wsDialer failure classes', () => {
  it('ECONNREFUSED → refused; a name that does not resolve → unresolved; 404 → refused', async () => {
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, 'close');
    expect(await wsDialer(`ws://127.0.0.1:${port}/`, { maxPayload: 1024 })()).toMatchObject({
      failure: 'refused',
      code: 'ECONNREFUSED',
    });
    const unresolved = await wsDialer('ws://no-such-host.invalid:1/', { maxPayload: 1024 })();
    expect(isDialError(unresolved) && unresolved.failure).toMatch(/^unresolved/);
    const listener = await listen({ keepalive: false });
    try {
      const wrong = await WsListener.listen({ host: '127.0.0.1', port: 0, path: '/c', maxPayload: 1024 });
      const dialled = await wsDialer(`ws://127.0.0.1:${wrong.port}/elsewhere`, { maxPayload: 1024 })();
      wrong.close();
      expect(dialled).toMatchObject({ failure: 'refused', code: 'HTTP 404' });
    } finally {
      listener.close();
    }
  });

  it('the browser dialer classifies the same failures when the WebSocket class exposes them', async () => {
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, 'close');
    expect(await dialerFor('browser', `ws://127.0.0.1:${port}/`)()).toMatchObject({ failure: 'refused' });
  });
});
