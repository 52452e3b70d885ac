/**
 * Rank 0's memory while it relays messages to a destination that does not read (spec/backend-tcp.md
 * §12.2): rank 0 (a child process, measured) stops reading the source once RELAY_LIMIT_BYTES are
 * queued for the destination, and every message still arrives, in order, once the destination reads.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { MemoryChild, stopMemoryChildren } from './memory-child.js';
import { BASE, RankChild, stopChildren } from './support.js';
import { channelOf, testHeader, testPayload } from './channel-support.js';

const MiB = 1024 * 1024;
const CHANNEL_RANK = fileURLToPath(new URL('./fixtures/channel-rank.ts', import.meta.url));
/** 80 messages of 2 MiB: without a bound rank 0 reads them all and queues them for the destination. */
const MESSAGES = 80;
const MESSAGE_BYTES = 2 * MiB;
/** The relay limit (8 MiB), a frame being read, GC lag on freed relay buffers: wide, still far below 160 MiB. */
const PEAK_BOUND_BYTES = 64 * MiB;

const memoryChildren: MemoryChild[] = [];
const rankChildren: RankChild[] = [];
let comms: Communicator[] = [];
afterEach(async () => {
  for (const c of rankChildren) if (c.child.signalCode === null) c.child.kill('SIGCONT');
  await stopChildren(rankChildren);
  await stopMemoryChildren(memoryChildren);
  for (const c of comms.splice(0)) await c.close().catch(() => {});
});

describe('rank 0 relaying to a destination that does not read', () => {
  it('rank 0 stops reading the source at its relay bound; every message arrives once the destination reads', async () => {
    const rank0 = new MemoryChild({ scenario: 'coordinator', size: 3 });
    memoryChildren.push(rank0);
    const { port } = (await rank0.next('listening')) as unknown as { port: number };
    const destination = new RankChild({ rank: 1, size: 3, port }, CHANNEL_RANK);
    rankChildren.push(destination);
    comms = [await connectTcp({ ...BASE, rank: 2, size: 3, port })];
    await Promise.all([rank0.next('formed'), destination.next('formed')]);
    // Rank 1 reads nothing from now on: its kernel buffer fills, then rank 0's queue for it grows.
    destination.child.kill('SIGSTOP');
    const channel = channelOf(comms[0]!);
    const payload = testPayload(2, 1, 0, MESSAGE_BYTES);
    const posted = Promise.all(
      Array.from({ length: MESSAGES }, () => channel.post(1, testHeader(2, 1, 0), payload)),
    );
    // Bounded: rank 0 pauses this rank's link. Unbounded (the fault): every post is taken.
    await Promise.race([rank0.next('paused'), posted]);
    const held = await rank0.memory();
    expect(
      held.peak.arrayBuffers,
      `rank 0 held ${(held.peak.arrayBuffers / MiB).toFixed(0)} MiB of array buffers relaying to a stopped rank`,
    ).toBeLessThan(PEAK_BOUND_BYTES);

    destination.child.kill('SIGCONT');
    await posted;
    const received = await destination.count('received', MESSAGES);
    expect(
      received.every((m) => m['source'] === 2 && m['intact'] === true && m['bytes'] === MESSAGE_BYTES),
    ).toBe(true);
    const after = await rank0.memory();
    expect(after.peak.arrayBuffers).toBeLessThan(PEAK_BOUND_BYTES);
  });
});
