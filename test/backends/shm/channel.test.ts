/**
 * The shm pair channel (spec/backend-shm.md §9) through its PairChannel interface, in real worker
 * threads: order and content per source at every size (0 bytes, around the ring's size, several
 * rings), frames crossing both ways at once, many small frames, a peer that dies mid-stream, close.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelWorld } from './channel-world.js';

/** A small ring, so modest frames wrap it, fill it and stream through it. */
const RING = 1024;
/** Sizes around every boundary of a RING-byte ring: empty, tiny, odd, just under/over it, several rings. */
const SIZES = [
  0,
  1,
  7,
  8,
  9,
  63,
  64,
  100,
  900,
  947,
  948,
  960,
  1000,
  1023,
  1024,
  1025,
  3 * RING + 5,
  0,
  16 * RING + 3,
  2,
];
/** How long a peer's death may take to reach the survivors (the listener looks every 100 ms). */
const FAILURE_BOUND_MS = 2000;

let world: ChannelWorld | null = null;
afterEach(async () => {
  await world?.terminate();
  world = null;
});

describe('shm pair channel', () => {
  it.each([false, true])(
    'frames arrive in order per source at every size, incl. 0 B and larger than the ring (await each: %s)',
    async (awaitEach) => {
      world = await ChannelWorld.start({ size: 3, ringBytes: RING });
      const all = [0, 1, 2];
      const results = await Promise.all(
        all.map(
          (rank) =>
            world!.tell(rank, {
              type: 'exchange',
              sizes: SIZES,
              to: all.filter((r) => r !== rank),
              from: all.filter((r) => r !== rank),
              awaitEach,
            }).done,
        ),
      );
      for (const [rank, result] of results.entries()) {
        expect(result, `rank ${rank}`).toMatchObject({ type: 'done', errors: [] });
        if (result.type !== 'done') continue;
        for (const source of all.filter((r) => r !== rank))
          expect(result.received[source]).toBe(SIZES.length);
      }
    },
  );

  it('large frames crossing both ways at once complete (each side drains while its post waits)', async () => {
    world = await ChannelWorld.start({ size: 2, ringBytes: RING });
    const sizes = [64 * RING + 1, 200 * RING, 3, 1000 * RING + 7];
    const [a, b] = await Promise.all([
      world.tell(0, { type: 'exchange', sizes, to: [1], from: [1], awaitEach: false }).done,
      world.tell(1, { type: 'exchange', sizes, to: [0], from: [0], awaitEach: false }).done,
    ]);
    expect(a).toMatchObject({ type: 'done', errors: [], received: { 1: sizes.length } });
    expect(b).toMatchObject({ type: 'done', errors: [], received: { 0: sizes.length } });
  });

  it('many small frames from several sources, with the default ring', async () => {
    world = await ChannelWorld.start({ size: 4 });
    const sizes = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? 8 : i % 17));
    const results = await Promise.all(
      [1, 2, 3].map(
        (r) => world!.tell(r, { type: 'exchange', sizes, to: [0], from: [], awaitEach: false }).done,
      ),
    );
    const root = await world.tell(0, { type: 'exchange', sizes, to: [], from: [1, 2, 3], awaitEach: false })
      .done;
    for (const result of results) expect(result).toMatchObject({ type: 'done', errors: [] });
    expect(root).toMatchObject({ type: 'done', errors: [], received: { 1: 5000, 2: 5000, 3: 5000 } });
  });

  it.each(['terminated, the launcher aborts the group', 'exits without close()'])(
    `a peer thread that dies mid-stream (%s): the others' channels fail within ${FAILURE_BOUND_MS} ms`,
    async (how) => {
      const terminated = how.startsWith('terminated');
      world = await ChannelWorld.start({ size: 3, ringBytes: RING, abortOnExit: terminated });
      // Ranks 0 and 1 stream to rank 2 (and 2 to 0), so both have a post waiting for room when 2 dies.
      const streams = [
        world.tell(0, { type: 'stream', to: 2, bytes: 10 * RING }),
        world.tell(1, { type: 'stream', to: 2, bytes: 100 }),
      ];
      await Promise.all(streams.map((s) => s.progress));
      const killed = Date.now();
      if (terminated) await world.workers[2]!.terminate();
      else world.tell(2, { type: 'exit' });
      const [a, b] = await Promise.all(streams.map((s) => s.done));
      for (const outcome of [a!, b!]) {
        expect(outcome).toMatchObject({ type: 'failed', code: 'CollectiveFailed' });
        if (outcome.type !== 'failed') continue;
        expect(outcome.message).toContain('rank 2');
        expect(outcome.at - killed).toBeLessThan(FAILURE_BOUND_MS);
      }
    },
  );
});
