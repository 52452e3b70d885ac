/**
 * Two jobs on one node (spec/backend-tcp.md §3.2, §3.4): admission binds a rank to its job. A rank
 * whose job id differs from rank 0's (or is absent on one side only) is refused with a message naming
 * both jobs and the remedy, and rank 0's own job goes on forming; a port already taken by another
 * job's rank 0 fails at once, naming the remedy.
 */
import { describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import {
  decodeReject,
  HANDSHAKE_FIXED_BYTES,
  encodeHello,
  newNonce,
  RejectReason,
} from '../../../src/backends/star/handshake.js';
import { resolveTcpOptions } from '../../../src/backends/tcp/options.js';
import { PROTOCOL_VERSION, Tag } from '../../../src/backends/star/protocol.js';
import { BASE, closeAll, frame, RawPeer, startRankZero, backendError } from './support.js';

/** Each rank contributes (its job's tag + rank): a sum tells whose data went in. */
async function sumOf(comms: Awaited<ReturnType<typeof connectTcp>>[], tag: number): Promise<number[]> {
  const sums = await Promise.all(comms.map((c) => c.allreduce(new Float64Array([tag + c.rank]))));
  return sums.map((s) => s[0]!);
}

describe('tcp: two jobs on one coordinator address', () => {
  for (const [ours, theirs] of [
    ['job-A', 'job-B'],
    ['job-A', undefined],
    [undefined, 'job-B'],
  ] as const) {
    it(`a rank of ${theirs ?? 'no job id'} is refused by rank 0 of ${ours ?? 'no job id'}, naming both; rank 0's job forms with its own rank`, async () => {
      const warnings: string[] = [];
      const a = await startRankZero(2, { jobId: ours, onWarning: (m) => warnings.push(m) });
      // Job B's rank 1 dials job A's rank 0 (same host and port).
      const intruder = await backendError(
        connectTcp({ ...BASE, rank: 1, size: 2, port: a.port, jobId: theirs }),
      );
      expect(intruder.kind).toBe('InitializationFailed');
      const named = (id: string | undefined): RegExp =>
        id === undefined ? /no job id/ : new RegExp(`"${id}"`);
      for (const id of [ours, theirs]) {
        expect(intruder.message).toMatch(named(id));
        expect(warnings.join('\n')).toMatch(named(id));
      }
      // The advice, once (it was printed twice: in rank 0's reason and in the suggestion).
      expect(intruder.message.match(/COLLECTIVE_TCP_PORT/g)).toHaveLength(1);
      expect(intruder.message.match(/COLLECTIVE_JOB_ID/g)).toHaveLength(1);
      expect(warnings.join('\n').match(/COLLECTIVE_TCP_PORT/g)).toHaveLength(1);
      // Job A is not failed: its own rank 1 joins, and the sums hold only job A's numbers.
      const comms = await Promise.all([
        a.comm,
        connectTcp({ ...BASE, rank: 1, size: 2, port: a.port, jobId: ours }),
      ]);
      expect(await sumOf(comms, 100)).toEqual([201, 201]);
      await closeAll(comms);
    });
  }

  it('a rank of another job with another size is refused for its job, not its size', async () => {
    const a = await startRankZero(2, { jobId: 'job-A', onWarning: () => {} });
    const e = await backendError(connectTcp({ ...BASE, rank: 2, size: 3, port: a.port, jobId: 'job-B' }));
    expect(e.message).toMatch(/"job-B".*"job-A"/);
    const comms = await Promise.all([
      a.comm,
      connectTcp({ ...BASE, rank: 1, size: 2, port: a.port, jobId: 'job-A' }),
    ]);
    await closeAll(comms);
  });

  it("a port taken by another job's rank 0 fails at once, naming the remedy", async () => {
    const a = await startRankZero(2, { jobId: 'job-A' });
    const e = await backendError(connectTcp({ ...BASE, rank: 0, size: 2, port: a.port, jobId: 'job-B' }));
    expect(e.kind).toBe('InitializationFailed');
    expect(e.context).toMatchObject({ errno: 'EADDRINUSE', port: a.port });
    expect(e.suggestion).toMatch(/own COLLECTIVE_TCP_PORT/);
    // Job A is untouched.
    const comms = await Promise.all([
      a.comm,
      connectTcp({ ...BASE, rank: 1, size: 2, port: a.port, jobId: 'job-A' }),
    ]);
    expect(await sumOf(comms, 0)).toEqual([1, 1]);
    await closeAll(comms);
  });

  it('a Handshake of protocol version 1 (no job id) is answered with BadVersion, not dropped', async () => {
    const warnings: string[] = [];
    const a = await startRankZero(2, { onWarning: (m) => warnings.push(m) });
    const peer = await RawPeer.open(a.port);
    const hello = encodeHello({
      version: 1,
      hasToken: false,
      rank: 1,
      size: 2,
      nonce: newNonce(),
      jobId: null,
    });
    peer.write(frame(Tag.Handshake, hello.subarray(0, HANDSHAKE_FIXED_BYTES)));
    const reject = decodeReject(await peer.next(Tag.Reject));
    expect(reject.reason).toBe(RejectReason.BadVersion);
    expect(reject.message).toMatch(new RegExp(`protocol version 1, rank 0 speaks ${PROTOCOL_VERSION}`));
    await peer.closed;
    const comms = await Promise.all([a.comm, connectTcp({ ...BASE, rank: 1, size: 2, port: a.port })]);
    await closeAll(comms);
  });

  it('a job id longer than 128 UTF-8 bytes is refused before any socket opens', () => {
    expect(() => resolveTcpOptions({ ...BASE, rank: 0, size: 2, port: 0, jobId: 'é'.repeat(65) })).toThrow(
      /jobId must be a string of at most 128 UTF-8 bytes/,
    );
    expect(resolveTcpOptions({ ...BASE, rank: 0, size: 2, port: 0, jobId: 'x'.repeat(128) }).jobId).toBe(
      'x'.repeat(128),
    );
  });
});
