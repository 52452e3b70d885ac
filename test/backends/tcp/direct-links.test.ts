/**
 * Direct links between workers (spec/backend-tcp.md §13.1–13.4): messages between workers travel
 * on them, not through rank 0; ranks that disagree on the algorithm fail formation; a reset link
 * fails every rank at once; the peer listener turns hostile connections away as rank 0's port does;
 * a link that cannot be opened is InitializationFailed naming both ranks and the address.
 */
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import { resolveTcpOptions, type TcpOptions } from '../../../src/backends/tcp/options.js';
import { dialPeer } from '../../../src/backends/tcp/peers/dial.js';
import { encodePeerHello } from '../../../src/backends/tcp/peers/handshake.js';
import { PeerListener } from '../../../src/backends/tcp/peers/listener.js';
import type { Connection } from '../../../src/backends/star/connection.js';
import { decodeReject, newNonce, RejectReason } from '../../../src/backends/star/handshake.js';
import { PROTOCOL_VERSION, Tag } from '../../../src/backends/star/protocol.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BackendError, CommError } from '../../../src/communicator/errors.js';
import {
  backendError,
  BASE,
  errorOf,
  formGroup,
  frame,
  RankChild,
  startRankZero,
  stopChildren,
} from './support.js';

const LINKS_RANK = fileURLToPath(new URL('./fixtures/links-rank.ts', import.meta.url));
/** The contract: a lost link fails every rank within this long (ms). */
const DETECTION_LIMIT_MS = 1000;

const children: RankChild[] = [];
afterEach(async () => {
  await stopChildren(children);
});

async function startGroup(
  size: number,
  args: Record<string, unknown>,
  fixture?: string,
): Promise<RankChild[]> {
  const rank0 = new RankChild({ ...args, rank: 0, size, port: 0 }, fixture);
  children.push(rank0);
  const { port } = await rank0.next('listening');
  const ranks = [rank0];
  for (let rank = 1; rank < size; rank++) {
    const child = new RankChild({ ...args, rank, size, port }, fixture);
    children.push(child);
    ranks.push(child);
  }
  return ranks;
}

describe('tcp direct links', () => {
  for (const algorithm of ['direct', 'auto']) {
    it(`${algorithm}: two workers exchange 1 MiB while rank 0 is stopped (SIGSTOP): their messages do not pass through it`, async () => {
      const ranks = await startGroup(3, { algorithm, token: 'links-secret' }, LINKS_RANK);
      await Promise.all(ranks.map((r) => r.next('formed')));
      const [rank0, rank1, rank2] = ranks as [RankChild, RankChild, RankChild];
      rank0.child.kill('SIGSTOP');
      try {
        rank1.child.kill('SIGUSR2');
        rank2.child.kill('SIGUSR2');
        // Through rank 0 these could not arrive until it runs again: the test would time out.
        const exchanged = await Promise.all([rank1.next('exchanged'), rank2.next('exchanged')]);
        for (const e of exchanged) expect(e['right']).toBe(true);
      } finally {
        rank0.child.kill('SIGCONT');
      }
      for (const r of ranks) expect((await r.exited).code).toBe(0);
    });
  }

  it('a direct link reset mid-allreduce (ss -K) fails every rank with CollectiveFailed within 1 s, naming the link', async () => {
    const ranks = await startGroup(3, { scenario: 'allreduce-loop', algorithm: 'direct' });
    await Promise.all(ranks.map((r) => r.next('looping')));
    const rank2 = ranks[2] as RankChild;
    // Rank 2's sockets: the one not to rank 0's port is its direct link to rank 1.
    const { port: starPort } = await (ranks[0] as RankChild).next('listening');
    const lines = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(`pid=${rank2.child.pid},`));
    const link = lines
      .map((l) => l.trim().split(/\s+/))
      .map((f) => ({ local: Number(f[2]?.split(':').pop()), remote: Number(f[3]?.split(':').pop()) }))
      .find((s) => s.remote !== starPort && s.local !== starPort);
    expect(link, `rank 2's sockets:\n${lines.join('\n')}`).toBeDefined();
    const cutAt = Date.now();
    execFileSync('ss', ['-K', 'src', `127.0.0.1:${link!.local}`, 'dst', `127.0.0.1:${link!.remote}`]);
    const errors = await Promise.all(ranks.map((r) => r.next('error')));
    const elapsed = Date.now() - cutAt;
    for (const e of errors) {
      expect(e['code']).toBe('CollectiveFailed');
      expect(String(e['message'])).toMatch(/direct link/);
    }
    expect(elapsed).toBeLessThan(DETECTION_LIMIT_MS);
    for (const r of ranks) expect((await r.exited).code).toBe(0);
  });

  it('rank 0 closing in order does not fail messages between workers still in flight; what needs rank 0 then fails naming it', async () => {
    const [zero, one, two] = (await formGroup(3, { algorithm: 'direct' })) as [
      Communicator,
      Communicator,
      Communicator,
    ];
    const waiting = two.recv(Float64Array, 1, 5);
    const fromZero = errorOf(two.recv(Float64Array, 0, 9));
    // close() resolves once rank 0's links have closed: both workers have read its Shutdown by then.
    await zero.close();
    await one.send(Float64Array.of(42), 2, 5);
    expect(Array.from((await waiting).data)).toEqual([42]);
    // A receive from rank 0 posted before it left can never match: it fails at once, not at the timeout.
    expect(((await fromZero) as CommError).message).toMatch(
      /rank 0 \(the coordinator\) closed its communicator/,
    );
    for (const comm of [one, two]) {
      const e = (await errorOf(comm.barrier())) as CommError;
      expect(e.code).toBe('CollectiveFailed');
      expect(e.message).toMatch(/rank 0 \(the coordinator\) closed its communicator/);
    }
    const toZero = (await errorOf(one.send(Float64Array.of(1), 0, 5))) as CommError;
    expect(toZero.code).toBe('CollectiveFailed');
    await Promise.all([one.close(), two.close()]);
  });

  it('a worker that sends and closes between calls fails no one: its data arrives, what waits for it fails, the next collective fails naming it', async () => {
    const [zero, one, two] = (await formGroup(3, { algorithm: 'direct' })) as [
      Communicator,
      Communicator,
      Communicator,
    ];
    const never = errorOf(one.recv(Float64Array, 2, 99));
    await two.send(Float64Array.of(7), 1, 5);
    // Resolves once rank 0 and rank 1 have read its Shutdown and its links' ends.
    await two.close();
    // Rank 0 is not failed by the departure between calls: its own message to rank 1 still goes.
    await zero.send(Float64Array.of(8), 1, 6);
    expect(Array.from((await one.recv(Float64Array, 0, 6)).data)).toEqual([8]);
    expect(Array.from((await one.recv(Float64Array, 2, 5)).data)).toEqual([7]);
    const e = (await never) as CommError;
    expect(e.code).toBe('CollectiveFailed');
    expect(e.message).toMatch(/rank 2 \(its direct link to rank 1\)/);
    for (const error of await Promise.all([errorOf(zero.barrier()), errorOf(one.barrier())])) {
      expect((error as CommError).code).toBe('CollectiveFailed');
      expect(error.message).toMatch(/rank 2 /);
    }
    await Promise.all([zero.close(), one.close()]);
  });

  it('ranks that disagree on the algorithm or its thresholds fail formation on every rank, naming the setting', async () => {
    for (const odd of [{ algorithm: 'direct' as const }, { directThresholds: { allreduce: 1024 } }]) {
      const { port, comm } = await startRankZero(3, { algorithm: 'auto' });
      const results = await Promise.allSettled([
        comm,
        connectTcp({ ...BASE, algorithm: 'auto', rank: 1, size: 3, port }),
        connectTcp({ ...BASE, algorithm: 'auto', ...odd, rank: 2, size: 3, port }),
      ]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        const e = (r as PromiseRejectedResult).reason as BackendError;
        expect(e).toBeInstanceOf(BackendError);
        expect(e.kind).toBe('InitializationFailed');
        expect(e.message).toMatch(/disagree on the collective algorithm/);
        expect(e.message).toMatch(/COLLECTIVE_TCP_ALGORITHM/);
      }
    }
  });

  it('a rank under star among ranks that are not: theirs fail formation saying so, its first collective fails', async () => {
    const { port, comm } = await startRankZero(3, { algorithm: 'auto' });
    const worker = backendError(connectTcp({ ...BASE, algorithm: 'auto', rank: 1, size: 3, port }));
    const zero = backendError(comm);
    const star = await connectTcp({ ...BASE, algorithm: 'star', rank: 2, size: 3, port });
    const first = errorOf(star.barrier());
    for (const e of [await zero, await worker]) {
      expect(e.kind).toBe('InitializationFailed');
      expect(e.message).toMatch(/set the same algorithm on every rank/);
    }
    expect(((await first) as CommError).code).toMatch(/CollectiveMismatch|CollectiveFailed/);
    await star.close();
  });
});

function settings(rank: number, size: number, extra: Partial<TcpOptions> = {}, warnings: string[] = []) {
  return resolveTcpOptions({
    ...BASE,
    rank,
    size,
    port: 1,
    token: 'peer-secret',
    jobId: 'job-7',
    connectTimeoutSecs: 5,
    onWarning: (m) => warnings.push(m),
    ...extra,
  });
}

/** A raw client of a peer listener: its first answer frame, or null when it was closed without one. */
function rawAnswer(port: number, bytes: Buffer): Promise<{ tag: number; payload: Buffer } | null> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 5 && got.length >= 4 + got.readUInt32BE(0)) {
        resolve({ tag: got.readUInt8(4), payload: got.subarray(5, 4 + got.readUInt32BE(0)) });
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(null));
  });
}

function hello(fields: Partial<Parameters<typeof encodePeerHello>[0]>): Buffer {
  return frame(
    Tag.PeerHello,
    encodePeerHello({
      version: PROTOCOL_VERSION,
      hasToken: true,
      dialer: 2,
      acceptor: 1,
      size: 3,
      nonce: newNonce(),
      jobId: 'job-7',
      ...fields,
    }),
  );
}

describe("a worker's direct-link listener under hostile connections", () => {
  it('refuses strangers with a reason, survives garbage, fuzzed frames and a flood, admits the real rank, then stops listening', async () => {
    const warnings: string[] = [];
    const linked: Array<[number, Connection]> = [];
    const listener = await PeerListener.open(settings(1, 3, {}, warnings), '127.0.0.1', (rank, c) =>
      linked.push([rank, c]),
    );
    const port = listener.port;
    const cases: Array<[Buffer, number]> = [
      [hello({ jobId: 'other-job' }), RejectReason.JobMismatch],
      [hello({ acceptor: 2 }), RejectReason.RankOutOfRange],
      [hello({ dialer: 0 }), RejectReason.DuplicateRank],
      [hello({ size: 4 }), RejectReason.WrongSize],
      [hello({ hasToken: false }), RejectReason.TokenMode],
      [hello({ version: PROTOCOL_VERSION - 1 }), RejectReason.BadVersion],
    ];
    for (const [bytes, reason] of cases) {
      const answer = await rawAnswer(port, bytes);
      expect(answer?.tag).toBe(Tag.Reject);
      expect(decodeReject(answer!.payload).reason).toBe(reason);
    }
    // A wrong proof after the challenge is refused as BadToken.
    const wrongProof = await new Promise<number | null>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => socket.write(hello({})));
      let got = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        while (got.length >= 5 && got.length >= 4 + got.readUInt32BE(0)) {
          const tag = got.readUInt8(4);
          const payload = got.subarray(5, 4 + got.readUInt32BE(0));
          got = got.subarray(4 + got.readUInt32BE(0));
          if (tag === Tag.Challenge) socket.write(frame(Tag.Auth, Buffer.alloc(32, 7)));
          else if (tag === Tag.Reject) {
            resolve(decodeReject(Buffer.from(payload)).reason);
            socket.destroy();
          }
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(null));
    });
    expect(wrongProof).toBe(RejectReason.BadToken);
    // Garbage (an oversized frame length) and a flood of idle connections.
    expect(await rawAnswer(port, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x18, 1, 2, 3]))).toBeNull();
    const idle = await Promise.all(
      Array.from(
        { length: 70 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
            s.on('error', () => {});
          }),
      ),
    );
    // Fuzz: seeded random frames — a valid header with a random tag and payload, or random bytes.
    let seed = 0x9e3779b9;
    const random = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const bytes = (n: number): Buffer =>
      Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const fuzzed = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        rawAnswer(
          port,
          i % 2 === 0
            ? frame(Math.floor(random() * 32), bytes(Math.floor(random() * 80)))
            : bytes(1 + Math.floor(random() * 64)),
        ),
      ),
    );
    for (const answer of fuzzed) expect(answer === null || answer.tag === Tag.Reject).toBe(true);
    expect(linked).toEqual([]);
    // The real rank 2 still gets in, and the listener closes behind it.
    let adopted: Connection | null = null;
    await dialPeer(settings(2, 3), 1, '127.0.0.1', port, Date.now() + 5000, (c) => (adopted = c));
    expect(adopted).not.toBeNull();
    expect(linked.map(([rank]) => rank)).toEqual([2]);
    expect(listener.awaited.size).toBe(0);
    const refused = await new Promise<string | undefined>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('connect', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(warnings.join('\n')).toMatch(
      /tcp rank 1: refused a direct link from 127\.0\.0\.1:\d+ \(claims rank 2\)/,
    );
    for (const s of idle) s.destroy();
    (adopted as Connection | null)?.destroy();
    for (const [, c] of linked) c.destroy();
  });

  it('a link that cannot be opened is InitializationFailed naming both ranks and the address', async () => {
    const closed = await PeerListener.open(settings(1, 3), '127.0.0.1', () => {});
    const port = closed.port;
    closed.close();
    const e = await backendError(dialPeer(settings(2, 3), 1, '127.0.0.1', port, Date.now() + 300, () => {}));
    expect(e.kind).toBe('InitializationFailed');
    expect(e.message).toMatch(
      new RegExp(
        `tcp rank 2: cannot open its direct link to rank 1 at 127\\.0\\.0\\.1:${port}: ECONNREFUSED`,
      ),
    );
    expect(e.message).toMatch(/COLLECTIVE_TCP_ALGORITHM=star/);
  });
});
