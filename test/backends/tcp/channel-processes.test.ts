/**
 * The star pair channel and processes (spec/backend-tcp.md §12.4, §12.5): when a process dies
 * mid-stream every other rank's onFailure runs within FAILURE_BOUND_MS of the kill and the streaming
 * posts reject (no hang); a rank whose message layer waits (setActive(true)) stays alive, and exits
 * on its own once it no longer waits. One rank is a child process; the others live in this process.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BASE, closeAll, RankChild, startRankZero, stopChildren } from './support.js';
import { channelOf, Inbox, testHeader, testPayload } from './channel-support.js';

/** The contract's detection bound (spec/communicator.md, §7.1 here): event-driven, it takes milliseconds. */
const FAILURE_BOUND_MS = 1000;
const STREAM_BYTES = 1024 * 1024;
const CHANNEL_RANK = fileURLToPath(new URL('./fixtures/channel-rank.ts', import.meta.url));

const children: RankChild[] = [];
let comms: Communicator[] = [];
afterEach(async () => {
  await stopChildren(children);
  await closeAll(comms.splice(0)).catch(() => {});
});

function child(args: Record<string, unknown>): RankChild {
  const c = new RankChild(args, CHANNEL_RANK);
  children.push(c);
  return c;
}

describe('tcp pair channel: a rank killed mid-stream', () => {
  it('a worker streaming to another worker through rank 0 is killed: ranks 0 and 1 hear it within the bound', async () => {
    const { port, comm: rank0 } = await startRankZero(3);
    const streamer = child({
      rank: 2,
      size: 3,
      port,
      stream: { dest: 1, bytes: STREAM_BYTES, announceAfter: 3 },
    });
    comms = await Promise.all([rank0, connectTcp({ ...BASE, rank: 1, size: 3, port })]);
    const inboxes = comms.map((c, r) => new Inbox(r, channelOf(c)));
    await inboxes[1]!.count(2, 3);
    const killedAt = performance.now();
    streamer.child.kill('SIGKILL');
    const errors = await Promise.all(inboxes.map((i) => i.failed()));
    for (const [r, inbox] of inboxes.entries()) {
      expect(errors[r]).toMatchObject({ code: 'CollectiveFailed', details: { rank: 2 } });
      expect(inbox.failedAt - killedAt, `rank ${r} heard it after`).toBeLessThan(FAILURE_BOUND_MS);
    }
    expect(inboxes[1]!.from(2).every((f) => f.intact && f.bytes === STREAM_BYTES)).toBe(true);
  });

  it('rank 0 is killed while rank 1 streams to rank 2 through it: both workers hear it within the bound, the posts reject', async () => {
    const coordinator = child({ rank: 0, size: 3 });
    const { port } = (await coordinator.next('listening')) as { port: number };
    comms = await Promise.all([1, 2].map((rank) => connectTcp({ ...BASE, rank, size: 3, port })));
    const [one, two] = comms.map((c, i) => new Inbox(i + 1, channelOf(c))) as [Inbox, Inbox];
    const payload = testPayload(1, 2, 0, STREAM_BYTES);
    const streaming = (async (): Promise<unknown> => {
      for (;;) {
        try {
          await channelOf(comms[0]!).post(2, testHeader(1, 2, 0), payload);
        } catch (error) {
          return error;
        }
      }
    })();
    await two.count(1, 3);
    const killedAt = performance.now();
    coordinator.child.kill('SIGKILL');
    for (const inbox of [one, two]) {
      expect(await inbox.failed()).toMatchObject({ code: 'CollectiveFailed', details: { rank: 0 } });
      expect(inbox.failedAt - killedAt).toBeLessThan(FAILURE_BOUND_MS);
    }
    expect(await streaming).toMatchObject({ code: 'CollectiveFailed' });
  });
});

describe('tcp pair channel: setActive keeps the process alive', () => {
  it('a worker waiting for messages stays alive until they came, then exits on its own without close()', async () => {
    const { port, comm: rank0 } = await startRankZero(3);
    const waiter = child({ rank: 2, size: 3, port, activeFor: 2 });
    comms = await Promise.all([rank0, connectTcp({ ...BASE, rank: 1, size: 3, port })]);
    const inboxes = comms.map((c, r) => new Inbox(r, channelOf(c)));
    // Posted only once the child has formed: an idle child (links unref'd) would have exited by then.
    await waiter.next('formed');
    await channelOf(comms[1]!).post(2, testHeader(1, 2, 0), testPayload(1, 2, 0, 10));
    await channelOf(comms[0]!).post(2, testHeader(0, 2, 0), testPayload(0, 2, 0, 100_000));
    await waiter.next('idle');
    // Order holds per source only: the two sources' frames may arrive either way round.
    const received = waiter.messages.filter((m) => m['type'] === 'received');
    expect(received.map((m) => [m['source'], m['intact']]).sort()).toEqual([
      [0, true],
      [1, true],
    ]);
    expect(await waiter.exited).toEqual({ code: 0, signal: null });
    for (const inbox of inboxes) expect(await inbox.failed()).toMatchObject({ details: { rank: 2 } });
  });
});
