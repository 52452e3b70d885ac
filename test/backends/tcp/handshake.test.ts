/**
 * Forming a group (spec/backend-tcp.md §3): bad settings fail before any socket opens; a connection
 * with the wrong size, rank, version or token gets a clear error while rank 0 logs it and the group
 * being formed is not disturbed; workers that start first retry until rank 0 listens.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createHmac } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import {
  NONCE_BYTES,
  PROOF_BYTES,
  RejectReason,
  decodeChallenge,
  decodeReject,
  encodeHello,
  newNonce,
  proof,
} from '../../../src/backends/star/handshake.js';
import { resolveTcpOptions } from '../../../src/backends/tcp/options.js';
import { FRAME_HEADER_BYTES, PROTOCOL_VERSION, Tag } from '../../../src/backends/star/protocol.js';
import { BackendError } from '../../../src/communicator/errors.js';
import { BASE, closeAll, frame, RawPeer, startRankZero, backendError } from './support.js';

/** Rank 0 of `size`, collecting its warnings; the returned join() starts a worker with its port. */
async function coordinator(size: number, options: Parameters<typeof startRankZero>[1] = {}) {
  const warnings: string[] = [];
  const { port, comm } = await startRankZero(size, { ...options, onWarning: (m) => warnings.push(m) });
  const join = (rank: number, extra: Parameters<typeof startRankZero>[1] = {}) =>
    connectTcp({ ...BASE, ...options, ...extra, rank, size, port });
  return { port, comm, warnings, join };
}

async function expectWorking(comms: Awaited<ReturnType<typeof connectTcp>>[]): Promise<void> {
  const sums = await Promise.all(comms.map((c) => c.allreduce(new Float64Array([c.rank + 1]))));
  const n = comms.length;
  for (const s of sums) expect(s[0]).toBe((n * (n + 1)) / 2);
  await closeAll(comms);
}

describe('tcp settings', () => {
  const valid = { ...BASE, rank: 0, size: 2, port: 0 };
  const kindOf = (options: object): string | undefined => {
    try {
      resolveTcpOptions(options as never);
    } catch (error) {
      return (error as BackendError).kind;
    }
    return undefined;
  };

  it('refuse to listen beyond loopback without a token unless told to', () => {
    expect(kindOf({ ...valid, bindAddr: '10.1.2.3' })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, host: '10.1.2.3' })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, bindAddr: '0.0.0.0' })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, bindAddr: '0.0.0.0', token: 't' })).toBeUndefined();
    expect(kindOf({ ...valid, bindAddr: '0.0.0.0', allowInsecure: true })).toBeUndefined();
    expect(kindOf({ ...valid, bindAddr: '::1' })).toBeUndefined();
  });

  it('never listen on all interfaces by accident: a wildcard host needs an explicit bindAddr', () => {
    expect(kindOf({ ...valid, host: '0.0.0.0', token: 't' })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, host: '::', allowInsecure: true })).toBe('IncompatibleSettings');
  });

  it('reject bad rank, size, port, timeouts and chunk size', () => {
    expect(kindOf({ ...valid, rank: 2 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, rank: -1 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, size: 0 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, size: 1.5 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, rank: 1, port: 0 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, port: 70000 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, timeoutSecs: 0 })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, connectTimeoutSecs: NaN })).toBe('IncompatibleSettings');
    expect(kindOf({ ...valid, chunkBytes: 12 })).toBe('IncompatibleSettings');
  });

  it('connectTcp rejects them before opening anything', async () => {
    const e = await backendError(connectTcp({ ...valid, bindAddr: '192.168.0.1' }));
    expect(e.kind).toBe('IncompatibleSettings');
    expect(e.message).toMatch(/token/);
  });
});

describe('tcp handshake', () => {
  it('a worker with the wrong size is told why; rank 0 logs it; the group still forms', async () => {
    const c = await coordinator(2);
    const e = await backendError(connectTcp({ ...BASE, rank: 1, size: 3, port: c.port }));
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(/size 3.*group of 2/);
    expect(c.warnings.join('\n')).toMatch(/size 3/);
    await expectWorking(await Promise.all([c.comm, c.join(1)]));
  });

  it('duplicate rank, rank out of range and bad version are rejected; the group is not disturbed', async () => {
    const c = await coordinator(3);
    const first = await RawPeer.open(c.port);
    first.hello(1, 3);
    // Rank 0 reads the first rank 1's hello (already sent) before it can read anything from a later
    // connection, so once a later connection has its answer, the first rank 1 has joined.
    for (const [rank, size, version, pattern] of [
      [2, 3, 99, /protocol version 99/],
      [
        2,
        3,
        PROTOCOL_VERSION - 1,
        new RegExp(`version ${PROTOCOL_VERSION - 1}, rank 0 speaks ${PROTOCOL_VERSION}`),
      ],
      [5, 3, PROTOCOL_VERSION, /rank 5 is outside 1\.\.2/],
      [0, 3, PROTOCOL_VERSION, /rank 0 is outside/],
    ] as const) {
      const peer = await RawPeer.open(c.port);
      peer.hello(rank, size, version);
      expect(decodeReject(await peer.next(Tag.Reject)).message).toMatch(pattern);
      await peer.closed;
    }
    const duplicate = await backendError(c.join(1));
    expect(duplicate.kind).toBe('InitializationFailed');
    expect(duplicate.message).toMatch(/rank 1 has already joined/);
    expect(c.warnings.join('\n')).toMatch(/version 99[\s\S]*outside[\s\S]*outside[\s\S]*already joined/);
    // The group forms with the first rank 1: it gets Ack, ranks 0 and 2 get their communicators.
    const comms = await Promise.all([c.comm, c.join(2)]);
    await first.next(Tag.Ack);
    first.socket.destroy();
    await closeAll(comms);
  });

  it('a group with a token forms; a wrong or missing token is refused; the token never travels', async () => {
    const token = 'correct horse battery staple';
    const c = await coordinator(2, { token });
    const wrong = await backendError(c.join(1, { token: 'wrong' }));
    expect(wrong.message).toMatch(/token challenge/);
    expect(wrong.context['rejectReason']).toBe(RejectReason.BadToken);
    const missing = await backendError(c.join(1, { token: '' }));
    expect(missing.message).toMatch(/requires a token/);
    expect(c.warnings.join('\n')).toMatch(/failed the token challenge/);
    await expectWorking(await Promise.all([c.comm, c.join(1)]));
  });

  it('an unauthenticated connector gets no proof from rank 0 before it proves the token (§3.1)', async () => {
    const token = 'correct horse battery staple';
    const c = await coordinator(2, { token });
    const socket = await new Promise<Socket>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: c.port }, () => resolve(s));
    });
    let received = Buffer.alloc(0);
    let arrived: () => void = () => {};
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      arrived();
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const until = async (bytes: number): Promise<void> => {
      while (received.length < bytes) await new Promise<void>((resolve) => (arrived = resolve));
    };
    const workerNonce = newNonce();
    const hello = { version: PROTOCOL_VERSION, hasToken: true, rank: 1, size: 2, jobId: null };
    socket.write(frame(Tag.Handshake, encodeHello({ ...hello, nonce: workerNonce })));
    // Everything rank 0 says before the connector proves anything: one Challenge of one nonce.
    await until(FRAME_HEADER_BYTES + NONCE_BYTES);
    expect(received.length).toBe(FRAME_HEADER_BYTES + NONCE_BYTES);
    expect(received.readUInt32BE(0)).toBe(1 + NONCE_BYTES);
    expect(received[4]).toBe(Tag.Challenge);
    const coordinatorNonce = received.subarray(FRAME_HEADER_BYTES);
    socket.write(frame(Tag.Auth, Buffer.alloc(PROOF_BYTES, 7)));
    await closed;
    // Then only a Reject: no HMAC keyed by the token, in the old order's form or the new one's.
    const reject = received.subarray(FRAME_HEADER_BYTES + NONCE_BYTES);
    expect(reject[4]).toBe(Tag.Reject);
    expect(decodeReject(reject.subarray(FRAME_HEADER_BYTES)).reason).toBe(RejectReason.BadToken);
    const ids = Buffer.alloc(8);
    ids.writeUInt32BE(1, 0);
    ids.writeUInt32BE(2, 4);
    const oldOrderProof = createHmac('sha256', token)
      .update('collective-tcp/coordinator')
      .update(workerNonce)
      .update(ids)
      .digest();
    const join = { workerNonce, coordinatorNonce, rank: 1, size: 2 };
    for (const secret of [oldOrderProof, proof(token, 'coordinator', join), Buffer.from(token)])
      expect(received.includes(secret)).toBe(false);
    await expectWorking(await Promise.all([c.comm, c.join(1)]));
  });

  it('a worker speaking version 3 by hand: its proof first, then rank 0 proves itself in Ack', async () => {
    const token = 'correct horse battery staple';
    const c = await coordinator(2, { token });
    const peer = await RawPeer.open(c.port);
    const workerNonce = newNonce();
    const hello = { version: PROTOCOL_VERSION, hasToken: true, rank: 1, size: 2, jobId: null };
    peer.write(frame(Tag.Handshake, encodeHello({ ...hello, nonce: workerNonce })));
    const coordinatorNonce = decodeChallenge(await peer.next(Tag.Challenge));
    const join = { workerNonce, coordinatorNonce, rank: 1, size: 2 };
    peer.write(frame(Tag.Auth, proof(token, 'worker', join)));
    expect(await peer.next(Tag.Ack)).toEqual(proof(token, 'coordinator', join));
    const rank0 = await c.comm;
    peer.socket.destroy();
    await rank0.close();
  });

  it('a worker rejects a coordinator that does not hold the token, whatever it sends in Ack', async () => {
    for (const ack of [Buffer.alloc(PROOF_BYTES, 9), Buffer.alloc(0)]) {
      // A fake rank 0: it answers Handshake with a Challenge and Auth with Ack, proving nothing.
      const server = createServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write(frame(Tag.Challenge, newNonce()));
          socket.once('data', () => socket.write(frame(Tag.Ack, ack)));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const e = await backendError(connectTcp({ ...BASE, rank: 1, size: 2, port, token: 'secret' }));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      expect(e.kind).toBe('InitializationFailed');
      expect(e.message).toMatch(/the coordinator failed the token challenge/);
    }
  });

  it('rank 0 adopts an already-listening server (e.g. handed over by a parent)', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    let reported = -1;
    const comms = await Promise.all([
      connectTcp({
        ...BASE,
        rank: 0,
        size: 2,
        port: 0,
        server,
        onListening: (a) => void (reported = a.port),
      }),
      connectTcp({ ...BASE, rank: 1, size: 2, port }),
    ]);
    expect(reported).toBe(port);
    await expectWorking(comms);
    expect(server.listening).toBe(false);
    const idle = createServer();
    const e = await backendError(connectTcp({ ...BASE, rank: 0, size: 2, port: 0, server: idle }));
    expect(e.kind).toBe('IncompatibleSettings');
  });

  it('a late joiner is turned away once the group is complete', async () => {
    const c = await coordinator(2);
    const comms = await Promise.all([c.comm, c.join(1)]);
    const late = await backendError(c.join(1));
    expect(late.message).toMatch(/already complete/);
    // Re-init (src/selection/reinit.ts) retries on this code, not on the message's words.
    expect(late.context['rejectReason']).toBe(RejectReason.GroupComplete);
    await expectWorking(comms);
  });

  it('a rank 0 that always closes during the handshake: the worker retries, then names it, with a flag', async () => {
    let seen = 0;
    const server = createServer((socket) => {
      seen++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const e = await backendError(connectTcp({ ...BASE, rank: 1, size: 2, port, connectTimeoutSecs: 0.5 }));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(e.kind).toBe('InitializationFailed');
    const said = new RegExp(
      `rank 0 at 127\\.0\\.0\\.1:${port} closed the connection (\\d+) times during the handshake; it may be overloaded by other connections or may have exited`,
    ).exec(e.message);
    expect(said).not.toBeNull();
    const closes = Number(said![1]);
    expect(closes).toBeGreaterThanOrEqual(2);
    expect(seen).toBeGreaterThanOrEqual(closes);
    expect(e.context).toMatchObject({ closedDuringHandshake: true, closes });
  });

  it('rank 0 gives up when ranks never join, naming them; the waiting workers learn it too', async () => {
    const c = await coordinator(3, { connectTimeoutSecs: 0.5 });
    const joined = c.join(1, { connectTimeoutSecs: 10 });
    const e = await backendError(c.comm);
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(/tcp: rank 2 did not join rank 0 within 0\.5 s/);
    expect((await backendError(joined)).message).toMatch(/: rank 2 never joined within 0\.5 s/);
  });

  it('an unreachable coordinator fails after the connect timeout with the address and errno', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const e = await backendError(connectTcp({ ...BASE, rank: 1, size: 2, port, connectTimeoutSecs: 0.3 }));
    expect(e.kind).toBe('InitializationFailed');
    expect(e.context).toMatchObject({ address: `127.0.0.1:${port}`, errno: 'ECONNREFUSED' });
  });

  it('a worker that starts before rank 0 retries until rank 0 listens', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    let attempts = 0;
    let secondAttempt: () => void = () => {};
    const retried = new Promise<void>((resolve) => (secondAttempt = resolve));
    const onSocket = (): void => {
      if (++attempts === 2) secondAttempt();
    };
    subscribe('net.client.socket', onSocket);
    try {
      const worker = connectTcp({ ...BASE, rank: 1, size: 2, port });
      await retried; // the first attempt was refused: nothing listened yet
      const rank0 = connectTcp({ ...BASE, rank: 0, size: 2, port });
      await expectWorking([await rank0, await worker]);
    } finally {
      unsubscribe('net.client.socket', onSocket);
    }
  });
});
