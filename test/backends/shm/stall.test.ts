/**
 * A silent rank (issue 11 items 11 b–c and 16; spec/backend-shm.md §5.3): every waiting rank warns
 * while it waits, repeating, naming itself and the ranks not arrived; at the fatal timeout every waiting rank
 * rejects with Timeout naming them in details.missing; the group then fails naming the silent rank,
 * never a healthy one. The silent rank is frozen in Atomics.wait until the test thaws it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SpinPolicy } from '../../../src/backends/shm/barrier.js';
import { connectShm, createShmGroup } from '../../../src/backends/shm/index.js';
import { BackendError, stallWarningMessage } from '../../../src/communicator/errors.js';
import { failureOf, ScriptedWorld } from './scripted-world.js';

/** Long enough for several warnings even when a loaded machine delays a waiting thread. */
const TIMEOUT_SECS = 2;
const STALL_WARNING_SECS = 0.2;

let world: ScriptedWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function silentRankTwo(stallWarningSecs: number, spin?: SpinPolicy): Promise<ScriptedWorld> {
  world = new ScriptedWorld({
    size: 3,
    timeoutSecs: TIMEOUT_SECS,
    stallWarningSecs,
    ...(spin === undefined ? {} : { spin }),
  });
  const w = world;
  for (const d of await w.all([0, 1, 2], { do: 'connect', via: 'connectShm' })) expect(d.ok).toBe(true);
  for (const d of await w.all([0, 1, 2], { do: 'barrier' })) expect(d.ok).toBe(true);
  await w.tell(2, { do: 'freeze' }).started;
  return w;
}

/**
 * Which rank warned, then the shared stall text (whatever its wording), then where the missing rank
 * was last seen: `shm rank 0: collective #1 (allreduce): waiting 0.2 s for rank 2 …; rank 2 last seen …`.
 */
function expectedWarning(actual: string, rank: number): string {
  const waited = Number(/waiting (\d+\.\d) s/.exec(actual)?.[1]);
  const shared = stallWarningMessage(1, 'allreduce', [2], waited * 1000, TIMEOUT_SECS);
  return `shm rank ${rank}: ${shared}; rank 2 last seen after collective #0 (barrier)`;
}

describe('shm: a silent rank', () => {
  // 'off': the waiting ranks sleep at once (§3.3.1), so the wait's clock starts without a spin.
  it.each<SpinPolicy | undefined>([undefined, 'off'])(
    'every waiting rank warns repeatedly, then gets Timeout naming the silent rank (spin %s)',
    async (spin) => {
      const w = await silentRankTwo(STALL_WARNING_SECS, spin);
      const waited = await w.all([0, 1], { do: 'allreduce', value: 1 });
      for (const done of waited) {
        const e = failureOf(done);
        expect(e.code).toBe('Timeout');
        expect(e.details?.['missing']).toEqual([2]);
        expect(e.message).toMatch(
          /collective #1: rank 2 never arrived \(rank 2 last seen after collective #0 \(barrier\)\)/,
        );
        // Nine are due in a 2 s wait (every 0.2 s): at least two arrive even on a loaded machine.
        expect(done.warnings.length).toBeGreaterThanOrEqual(2);
        expect(done.warnings[0]).toBe(expectedWarning(done.warnings[0]!, waited.indexOf(done)));
      }
      // The silent rank wakes up: its late call must not complete a barrier the others abandoned.
      w.thaw();
      const late = failureOf(await w.do(2, { do: 'allreduce', value: 1 }));
      expect(late.code).toBe('CollectiveFailed');
      expect(late.details?.['rank']).toBe(2);
      expect(late.message).toMatch(/gave up waiting for rank 2/);
      // And every later call of a healthy rank fails naming the silent rank, not a healthy one.
      for (const done of await w.all([0, 1], { do: 'barrier' })) {
        expect(failureOf(done).details?.['rank']).toBe(2);
      }
    },
  );

  it('stallWarningSecs 0 disables the warning; the timeout still reaches every waiting rank', async () => {
    const w = await silentRankTwo(0);
    for (const done of await w.all([0, 1], { do: 'barrier' })) {
      expect(failureOf(done).code).toBe('Timeout');
      expect(done.warnings).toEqual([]);
    }
  });

  it('connectShm rejects a stallWarningSecs that is not a number of seconds ≥ 0', async () => {
    const group = createShmGroup({ size: 2 });
    for (const bad of [-1, Number.NaN, Infinity, '5']) {
      const e = await connectShm({
        group: group.handle,
        rank: 0,
        timeoutSecs: 1,
        stallWarningSecs: bad as number,
      }).then(
        () => null,
        (error: unknown) => error as BackendError,
      );
      expect(e).toBeInstanceOf(BackendError);
      expect(e!.kind).toBe('IncompatibleSettings');
      expect(e!.message).toMatch(/stallWarningSecs must be a number of seconds ≥ 0/);
    }
  });
});
