/**
 * "Never on all interfaces by accident" with real sockets (spec/backend-tcp.md §1.1): every spelling
 * of the unspecified address is refused as a coordinator host before anything listens, and without
 * a token as a bind address; loopback spellings really listen and form a group; a server adopted
 * while bound to every interface is refused on the address it really bound.
 */
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectTcp, type TcpOptions } from '../../../src/backends/tcp/index.js';
import { freePort } from '../../support/ports.js';
import { BASE, backendError, closeAll, formGroup, RawPeer, startRankZero } from './support.js';

const UNSPECIFIED = [
  '0',
  '0.0.0',
  '0x0',
  '::0',
  '[::0]',
  '[::]',
  '0:0:0:0:0:0:0:0',
  '[0:0:0:0:0:0:0:0]',
  '::ffff:0.0.0.0',
];

/** Rank 0 of one rank: forms at once if it listens, so a refusal is the only way to reject. */
function rankZero(options: Partial<TcpOptions>, listened: string[]): ReturnType<typeof connectTcp> {
  return connectTcp({
    ...BASE,
    rank: 0,
    size: 1,
    port: 0,
    ...options,
    onListening: ({ host }) => listened.push(host),
  });
}

describe('tcp listen guard', () => {
  it.each(UNSPECIFIED)('host %j is refused before listening, even with a token', async (host) => {
    const listened: string[] = [];
    const error = await backendError(rankZero({ host, token: 't0k' }, listened));
    expect(error.kind).toBe('IncompatibleSettings');
    expect(error.message).toMatch(/unspecified address .*all interfaces/);
    expect(error.context).toMatchObject({ field: 'host', value: host });
    expect(error.suggestion).toMatch(/COLLECTIVE_TCP_COORDINATOR.*COLLECTIVE_TCP_BIND_ADDR=0\.0\.0\.0/);
    expect(listened).toEqual([]);
  });

  it.each(UNSPECIFIED)('bindAddr %j needs a token', async (bindAddr) => {
    const listened: string[] = [];
    const error = await backendError(rankZero({ bindAddr }, listened));
    expect(error.kind).toBe('IncompatibleSettings');
    expect(error.message).toMatch(/would listen on all interfaces .*without a token/);
    expect(error.context).toMatchObject({ field: 'token' });
    expect(error.suggestion).toMatch(/COLLECTIVE_TCP_TOKEN/);
    expect(listened).toEqual([]);
  });

  it.each(UNSPECIFIED)('a worker refuses host %j: nothing to connect to', async (host) => {
    const error = await backendError(connectTcp({ ...BASE, host, rank: 1, size: 2, port: 1 }));
    expect(error.kind).toBe('IncompatibleSettings');
    expect(error.message).toMatch(/not an address to connect to/);
    expect(error.suggestion).toMatch(/COLLECTIVE_TCP_COORDINATOR/);
  });

  it.each(['::ffff:10.1.2.3', '10.1.2.3', '0.0.0.1', 'node07'])(
    'non-loopback %j needs a token',
    async (bindAddr) => {
      const listened: string[] = [];
      const error = await backendError(rankZero({ bindAddr }, listened));
      expect(error.message).toMatch(/without a token/);
      expect(listened).toEqual([]);
    },
  );

  it.each(['127.0.0.2', '127.1', '::ffff:127.0.0.1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost'])(
    'loopback %j listens without a token and the group works',
    async (host) => {
      const comms = await formGroup(2, { host });
      const sums = await Promise.all(comms.map((c) => c.allreduce(new Float64Array([c.rank + 1]))));
      expect(sums.map((s) => s[0])).toEqual([3, 3]);
      await closeAll(comms);
    },
  );

  it('a server adopted while bound to every interface is refused without a token and closed', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen({ host: '0.0.0.0', port: 0 }, resolve));
    const closed = new Promise<void>((resolve) => server.once('close', resolve));
    const listened: string[] = [];
    const error = await backendError(rankZero({ server }, listened));
    expect(error.message).toMatch(/all interfaces \(0\.0\.0\.0\) without a token/);
    await closed;
  });

  it('a server adopted on every interface is used with a token', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen({ host: '0.0.0.0', port: 0 }, resolve));
    const listened: string[] = [];
    const comm = await rankZero({ server, token: 't0k' }, listened);
    expect(listened).toEqual(['0.0.0.0']);
    await comm.close();
  });

  it('messages write IPv6 addresses in brackets: [::1]:port', async () => {
    const port = await freePort();
    const unreachable = await backendError(
      connectTcp({ ...BASE, host: '::1', rank: 1, size: 2, port, connectTimeoutSecs: 0.3 }),
    );
    expect(unreachable.message).toContain(`unreachable at [::1]:${port}`);
    expect(unreachable.context['address']).toBe(`[::1]:${port}`);

    const warnings: string[] = [];
    const zero = await startRankZero(2, { host: '::1', onWarning: (m) => warnings.push(m) });
    const peer = await RawPeer.open(zero.port, '::1');
    peer.hello(1, 3);
    await peer.closed;
    expect(warnings.join('\n')).toMatch(/from \[::1\]:\d+: /);
    const taken = await backendError(connectTcp({ ...BASE, host: '::1', rank: 0, size: 2, port: zero.port }));
    expect(taken.message).toContain(`cannot listen on [::1]:${zero.port}`);
    await closeAll(
      await Promise.all([zero.comm, connectTcp({ ...BASE, host: '::1', rank: 1, size: 2, port: zero.port })]),
    );
  });
});
