/**
 * More ranks than cores (issue 18 item 3; spec/backend-shm.md §3.3.1): a waiting rank sleeps at once
 * unless every rank it still waits for can run beside it, and spins only for an adaptive budget.
 * The spin policy changes only speed: with spin forced off, forced on, adaptive, and mixed across
 * the ranks of one group, a few hundred small collectives give exact results. The loop also runs
 * past the fatal timeout in total, so a wait whose clock did not restart would fail with Timeout.
 */
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpinPolicy } from '../../../src/backends/shm/barrier.js';
import { connectShm, createShmGroup } from '../../../src/backends/shm/index.js';
import { BackendError } from '../../../src/communicator/errors.js';
import { ScriptedWorld } from './scripted-world.js';

/** More ranks than this machine has cores (8 on the 2-core reference machine), within reason. */
const SIZE = Math.min(16, Math.max(8, availableParallelism() + 1));
const RANKS = [...Array(SIZE).keys()];
const CALLS = 200;
/** Generous: a loaded 2-core machine can stall a thread for a long time; spin 'on' holds cores. */
const TIMEOUT_SECS = 20;
/**
 * Where a rank sleeps at once ('off', 'auto' oversubscribed) its wait clock starts there too: a loop
 * longer in total than this short timeout would fail with Timeout if a wait kept an old start.
 */
const SHORT_TIMEOUT_SECS = 1;
const LOOP_MS = 1500;

let world: ScriptedWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function loop(spin: SpinPolicy | SpinPolicy[], timeoutSecs: number, minMs: number): Promise<void> {
  world = new ScriptedWorld({ size: SIZE, timeoutSecs, spin });
  const w = world;
  for (const d of await w.all(RANKS, { do: 'connect', via: 'connectShm' })) expect(d.ok).toBe(true);
  const done = await w.all(RANKS, { do: 'exact-loop', calls: CALLS, minMs });
  expect(done.map((d) => d.error?.message)).toEqual(RANKS.map(() => undefined));
  const calls = done.map((d) => d.value);
  expect(calls[0]).toBeGreaterThanOrEqual(CALLS);
  expect(calls).toEqual(RANKS.map(() => calls[0]));
}

describe(`shm: ${SIZE} ranks on ${availableParallelism()} cores`, () => {
  it.each<SpinPolicy>(['off', 'auto'])(
    'spin %s: small collectives are exact, and each wait has its own deadline',
    async (spin) => {
      await loop(spin, SHORT_TIMEOUT_SECS, LOOP_MS);
    },
  );

  it('spin on (every waiting rank spins first): small collectives are exact', async () => {
    await loop('on', TIMEOUT_SECS, 0);
  });

  it('ranks of one group with different spin policies agree', async () => {
    const policies: SpinPolicy[] = ['off', 'on', 'auto'];
    await loop(
      RANKS.map((r) => policies[r % policies.length]!),
      TIMEOUT_SECS,
      0,
    );
  });

  it('connectShm rejects a spin policy it does not know', async () => {
    const group = createShmGroup({ size: 2 });
    for (const bad of ['yes', true, 0]) {
      const e = await connectShm({
        group: group.handle,
        rank: 0,
        timeoutSecs: 1,
        spin: bad as SpinPolicy,
      }).then(
        () => null,
        (error: unknown) => error as BackendError,
      );
      expect(e).toBeInstanceOf(BackendError);
      expect(e!.kind).toBe('IncompatibleSettings');
      expect(e!.message).toMatch(/spin must be one of auto, on, off, got /);
    }
  });
});
