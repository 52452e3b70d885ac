/**
 * Communicators of one world share its message layer and are kept apart by context
 * (spec/communicator.md §10.3, §10.8): a derived communicator (as split/dup make) neither matches
 * the world's messages nor loses its own, translates ranks through its members, and its close()
 * ends only its own waiting receives and probes (the layer's cancel), releasing a large message
 * queued unreceived in it.
 */
import { describe, expect, it } from 'vitest';
import { CheckedCommunicator } from '../../../src/communicator/communicator.js';
import { CommError } from '../../../src/communicator/errors.js';
import { createOneRankCommunicator, OneRankBackend } from '../../../src/communicator/one-rank.js';

/** Above the default eager threshold (64 KiB): a self-send that waits for its receive. */
const LARGE_ELEMENTS = 10_000;

function worldAndDerived(): { world: CheckedCommunicator; derived: CheckedCommunicator } {
  const world = createOneRankCommunicator() as CheckedCommunicator;
  const group = { layer: world.messageGroup.layer, context: 2, members: [0] };
  return { world, derived: new CheckedCommunicator(new OneRankBackend(), group) };
}

describe('message contexts', () => {
  it('a derived communicator and the world never match each other’s messages', async () => {
    const { world, derived } = worldAndDerived();
    const onWorld = world.recv(Int32Array, 0, 5);
    await derived.send(Int32Array.of(2), 0, 5);
    expect(world.iprobe(0, 5)).toBeNull();
    expect(derived.iprobe(0, 5)).toEqual({ source: 0, tag: 5, count: 1 });
    await world.send(Int32Array.of(1), 0, 5);
    expect(Array.from((await onWorld).data)).toEqual([1]);
    expect(Array.from((await derived.recv(Int32Array, 0, 5)).data)).toEqual([2]);
    await derived.close();
    await world.close();
  });

  it('closing a derived communicator ends its waits only, and releases its unreceived large send', async () => {
    const { world, derived } = worldAndDerived();
    const waiting = derived.recv(Float64Array, 0, 1);
    const probing = derived.probe(0, 3);
    const large = derived.send(new Float64Array(LARGE_ELEMENTS), 0, 9); // queued, unreceived
    const onWorld = world.recv(Float64Array, 0, 1);
    await derived.close();
    for (const pending of [waiting, probing]) {
      const error = await pending.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CommError);
      expect((error as CommError).code).toBe('InvalidCommunicator');
    }
    await large; // released without being received
    await expect(derived.send(Float64Array.of(1), 0)).rejects.toMatchObject({ code: 'InvalidCommunicator' });
    // The world is untouched: its receive still waits, and matches.
    await world.send(Float64Array.of(4), 0, 1);
    expect(Array.from((await onWorld).data)).toEqual([4]);
    await world.close();
  });
});
