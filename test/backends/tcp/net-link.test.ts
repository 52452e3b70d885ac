/**
 * The net.Socket link's read path with real loopback sockets (spec/backend-tcp.md §11.2): rank 0's
 * accepted links and a worker's dialed link read into one reused buffer each (borrowed chunks of at
 * most readBytes, delivered intact), readBytes 0 turns that off for accepted links, and a listener's
 * server still counts the adopted sockets (its close completes once they are gone).
 */
import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Link } from '../../../src/backends/link/link.js';
import { NetListener, netDialer, STATIC_READ_BYTES } from '../../../src/backends/tcp/net-link.js';

const MiB = 1024 * 1024;
/** Enough bytes for many reads of the largest buffer. */
const MESSAGE_BYTES = 8 * MiB;

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function listener(readBytes?: number): Promise<NetListener> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return new NetListener(server, '127.0.0.1', port, () => {}, readBytes);
}

function pattern(bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + (i >>> 11)) & 0xff;
  return out;
}

interface Received {
  bytes: Buffer;
  borrowed: Set<boolean>;
  memories: Set<ArrayBufferLike>;
  largest: number;
}

/** Collects `bytes` from `link` (copying each chunk, as a borrowed one must be) and resolves. */
function receive(link: Link, bytes: number): Promise<Received> {
  const out: Received = { bytes: Buffer.alloc(bytes), borrowed: new Set(), memories: new Set(), largest: 0 };
  let at = 0;
  return new Promise((resolve) => {
    link.onData = (chunk, borrowed) => {
      out.borrowed.add(borrowed);
      out.memories.add(chunk.buffer);
      out.largest = Math.max(out.largest, chunk.byteLength);
      out.bytes.set(chunk, at);
      at += chunk.byteLength;
      if (at === bytes) resolve(out);
    };
  });
}

describe('tcp NetLink reads', () => {
  it('an accepted link reads into one reused buffer: borrowed chunks of at most readBytes, bytes intact', async () => {
    const server = await listener();
    const accepted = new Promise<Link>((resolve) => (server.onLink = resolve));
    const sender = connect({ host: '127.0.0.1', port: server.port });
    const link = await accepted;
    const message = pattern(MESSAGE_BYTES);
    const got = receive(link, MESSAGE_BYTES);
    sender.end(message);
    const { bytes, borrowed, memories, largest } = await got;
    expect(bytes.equals(message)).toBe(true);
    expect([...borrowed]).toEqual([true]);
    expect(memories.size).toBe(1);
    expect(largest).toBeLessThanOrEqual(STATIC_READ_BYTES);
    link.destroy();
  });

  it('readBytes 0: an accepted link delivers owned chunks', async () => {
    const server = await listener(0);
    const accepted = new Promise<Link>((resolve) => (server.onLink = resolve));
    const sender = connect({ host: '127.0.0.1', port: server.port });
    const link = await accepted;
    const message = pattern(MiB);
    const got = receive(link, MiB);
    sender.end(message);
    const { bytes, borrowed } = await got;
    expect(bytes.equals(message)).toBe(true);
    expect([...borrowed]).toEqual([false]);
    link.destroy();
  });

  it("a worker's dialed link reads into its reused buffer, and writes arrive whole at rank 0", async () => {
    const server = await listener();
    const accepted = new Promise<Link>((resolve) => (server.onLink = resolve));
    const dialed = await netDialer('127.0.0.1', server.port)();
    if (!('write' in dialed)) throw new Error(`dial failed: ${dialed.message}`);
    const link = await accepted;
    const down = pattern(MESSAGE_BYTES);
    const up = pattern(MESSAGE_BYTES / 2).reverse();
    const atWorker = receive(dialed, MESSAGE_BYTES);
    const atRankZero = receive(link, up.length);
    link.write([down.subarray(0, MiB), down.subarray(MiB)]);
    dialed.write([up]);
    const [worker, rankZero] = await Promise.all([atWorker, atRankZero]);
    expect(worker.bytes.equals(down)).toBe(true);
    expect([...worker.borrowed]).toEqual([true]);
    expect(worker.memories.size).toBe(1);
    expect(rankZero.bytes.equals(up)).toBe(true);
    dialed.destroy();
    link.destroy();
  });

  it('the server still counts an adopted link: its close completes once the link is closed', async () => {
    const server = await listener();
    const accepted = new Promise<Link>((resolve) => (server.onLink = resolve));
    const sender = connect({ host: '127.0.0.1', port: server.port });
    const link = await accepted;
    const closed = new Promise<void>((resolve) => server.server.once('close', () => resolve()));
    let connections = -1;
    await new Promise<void>((resolve) =>
      server.server.getConnections((_error, count) => {
        connections = count;
        resolve();
      }),
    );
    expect(connections).toBe(1);
    server.close();
    const linkClosed = new Promise<void>((resolve) => (link.onClose = () => resolve()));
    sender.destroy();
    await linkClosed;
    await closed;
  });
});
