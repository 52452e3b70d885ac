/**
 * The star pair channel over tcp (spec/backend-tcp.md §12): ordered frames between every pair of
 * ranks, worker to worker relayed through rank 0, interleaved with collectives on the same links;
 * the group's failure reported through onFailure on every rank. Ranks in this process over real
 * sockets on 127.0.0.1 (the process-failure cases are in channel-failures.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { CommError } from '../../../src/communicator/errors.js';
import { closeAll, formGroup } from './support.js';
import { channelOf, Inbox, inOrder, postAll, testHeader, testPayload } from './channel-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small pieces, so that a few hundred KiB walk the multi-frame path. */
const CHUNK_BYTES = 64 * KiB;

let groups: Communicator[][] = [];
afterEach(async () => {
  for (const comms of groups.splice(0)) await closeAll(comms).catch(() => {});
});

async function group(size: number): Promise<{ comms: Communicator[]; inboxes: Inbox[] }> {
  const comms = await formGroup(size, { chunkBytes: CHUNK_BYTES });
  groups.push(comms);
  return { comms, inboxes: comms.map((c, r) => new Inbox(r, channelOf(c))) };
}

function everyPair(size: number): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  for (let s = 0; s < size; s++) for (let d = 0; d < size; d++) if (s !== d) pairs.push([s, d]);
  return pairs;
}

describe('tcp pair channel: order and content', () => {
  // 0 bytes, 1, odd, one piece, a piece boundary, several pieces (not a multiple of the piece).
  const SIZES = [0, 1, 7, 4 * KiB, CHUNK_BYTES, CHUNK_BYTES + 1, 300_001, 3, 0, 5000];

  for (const size of [1, 2, 3, 4]) {
    it(`every pair of ${size} rank(s), worker to worker through rank 0, in order per source`, async () => {
      const { comms, inboxes } = await group(size);
      const pairs = everyPair(size);
      await Promise.all(pairs.map(([s, d]) => postAll(channelOf(comms[s]!), s, d, SIZES)));
      for (const [s, d] of pairs) await inboxes[d]!.count(s, SIZES.length);
      for (const [s, d] of pairs) expect(inOrder(inboxes[d]!, s, SIZES), `${s} → ${d}`).toBe(true);
      if (size === 1)
        expect(() => channelOf(comms[0]!).post(0, new Uint8Array(1), new Uint8Array(0))).toThrow(
          /internal error/,
        );
    });
  }

  it('multi-MiB frames crossing both ways (worker ↔ worker and worker ↔ rank 0) at once', async () => {
    const { comms, inboxes } = await group(3);
    const big = [5 * MiB + 3, 0, 3 * MiB];
    const pairs = everyPair(3);
    await Promise.all(pairs.map(([s, d]) => postAll(channelOf(comms[s]!), s, d, big)));
    for (const [s, d] of pairs) await inboxes[d]!.count(s, big.length);
    for (const [s, d] of pairs) expect(inOrder(inboxes[d]!, s, big), `${s} → ${d}`).toBe(true);
  });

  it('many small frames interleave with collectives on the same links (a large allreduce among them)', async () => {
    const { comms, inboxes } = await group(3);
    const FRAMES = 400;
    const sizes = Array.from({ length: FRAMES }, (_, i) => (i * 37) % 200);
    const posting = everyPair(3).map(([s, d]) => postAll(channelOf(comms[s]!), s, d, sizes));
    const collectives = comms.map(async (comm, r) => {
      const sums: number[] = [];
      for (let i = 0; i < 30; i++) {
        const out = await comm.allreduce(new Float64Array([r, i]));
        sums.push(out[0]!, out[1]!);
        if (i === 10) sums.push((await comm.allreduce(new Float64Array(MiB / 8).fill(r + 1))).at(-1)!);
      }
      return sums;
    });
    const results = await Promise.all(collectives);
    await Promise.all(posting);
    for (const [s, d] of everyPair(3)) await inboxes[d]!.count(s, FRAMES);
    for (const [s, d] of everyPair(3)) expect(inOrder(inboxes[d]!, s, sizes), `${s} → ${d}`).toBe(true);
    const expected: number[] = [];
    for (let i = 0; i < 30; i++) {
      expected.push(3, 3 * i);
      if (i === 10) expected.push(6);
    }
    for (const sums of results) expect(sums).toEqual(expected);
  });

  it('frames that arrive before attach() are delivered, in order, once it is called', async () => {
    const comms = await formGroup(3, { chunkBytes: CHUNK_BYTES });
    groups.push(comms);
    const sizes = [0, 10, 200_000, 1];
    const early = new Inbox(0, channelOf(comms[0]!));
    await postAll(channelOf(comms[1]!), 1, 2, sizes);
    await postAll(channelOf(comms[0]!), 0, 2, sizes);
    // Rank 2 has read them all once a barrier has passed (its link is ordered), then it attaches.
    await Promise.all(comms.map((c) => c.barrier()));
    const late = new Inbox(2, channelOf(comms[2]!));
    await late.count(1, sizes.length);
    await late.count(0, sizes.length);
    expect(inOrder(late, 1, sizes) && inOrder(late, 0, sizes)).toBe(true);
    expect(early.frames).toEqual([]);
  });
});

describe('tcp pair channel: the group ending', () => {
  it('fail(error) on a worker: it hears its own error, every other rank CollectiveFailed naming it, later posts reject', async () => {
    const { comms, inboxes } = await group(3);
    const timeout = new CommError('Timeout', 'recv', 'recv from rank 1, tag 7 waited 1 s');
    channelOf(comms[2]!).fail(timeout);
    const [e0, e1, e2] = await Promise.all(inboxes.map((i) => i.failed()));
    expect(e2).toBe(timeout);
    for (const e of [e0!, e1!]) {
      expect(e.code).toBe('CollectiveFailed');
      expect(e.details['rank']).toBe(2);
      expect(e.message).toContain('recv from rank 1, tag 7');
    }
    await expect(channelOf(comms[1]!).post(0, testHeader(1, 0, 0), new Uint8Array(1))).rejects.toMatchObject({
      code: 'CollectiveFailed',
    });
    await expect(comms[0]!.barrier()).rejects.toMatchObject({ code: 'CollectiveFailed' });
  });

  it('fail(error) on rank 0 ends the group on every worker', async () => {
    const { comms, inboxes } = await group(3);
    channelOf(comms[0]!).fail(new CommError('Timeout', 'recv', 'recv from rank 2 waited 1 s'));
    const errors = await Promise.all(inboxes.map((i) => i.failed()));
    expect(errors[0]!.code).toBe('Timeout');
    for (const e of errors.slice(1))
      expect(e).toMatchObject({ code: 'CollectiveFailed', details: { rank: 0 } });
    await expect(comms[1]!.allreduce(new Float64Array(1))).rejects.toMatchObject({
      code: 'CollectiveFailed',
    });
  });

  it('a rank that closes: every other rank hears it, and posts to it (or through rank 0) reject, none hangs', async () => {
    const { comms, inboxes } = await group(3);
    await comms[2]!.close();
    const [e0, e1, e2] = await Promise.all(inboxes.map((i) => i.failed()));
    expect(e2!.code).toBe('InvalidCommunicator');
    expect(e0).toMatchObject({ code: 'CollectiveFailed', details: { rank: 2 } });
    expect(e1).toMatchObject({ code: 'CollectiveFailed', details: { rank: 2 } });
    for (const [s, d] of [
      [0, 2],
      [1, 2],
      [1, 0],
    ] as const) {
      const posted = channelOf(comms[s]!).post(d, testHeader(s, d, 0), testPayload(s, d, 0, 3 * MiB));
      await expect(Promise.resolve(posted)).rejects.toBeInstanceOf(CommError);
    }
    await expect(
      Promise.resolve(channelOf(comms[2]!).post(0, testHeader(2, 0, 0), new Uint8Array(1))),
    ).rejects.toMatchObject({
      code: 'InvalidCommunicator',
    });
  });
});
