/**
 * The "no leftovers" check of the train() and collective run tests: after a run settles, no process it
 * started is alive and this process holds no more handles or timers than before it started.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises';

export type ResourceCounts = Map<string, number>;

export function activeResources(): ResourceCounts {
  const counts: ResourceCounts = new Map();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Handles close in the turn after their last event: let those turns pass before counting. */
const SETTLE_TURNS = 3;

export async function assertNoExtraResources(before: ResourceCounts): Promise<void> {
  for (let i = 0; i < SETTLE_TURNS; i++) await nextTurn();
  const after = activeResources();
  const extra = [...after].filter(([type, n]) => n > (before.get(type) ?? 0));
  assert.deepEqual(
    extra,
    [],
    `resources left behind: ${JSON.stringify(Object.fromEntries(after))} (before: ${JSON.stringify(Object.fromEntries(before))})`,
  );
}

/**
 * Whether a process still runs. An exited process whose new parent (init, after its own parent died)
 * has not reaped it yet is a zombie: it has exited, and kill(pid, 0) would still succeed on it.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces and parentheses, state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export function assertAllGone(pids: readonly number[]): void {
  const alive = pids.filter((pid) => pid !== process.pid && isAlive(pid));
  assert.deepEqual(alive, [], `worker processes still alive: ${alive.join(', ')}`);
}

/** How often waitUntilGone looks again. */
const GONE_POLL_MS = 50;

/**
 * Resolves once none of `pids` runs. Processes that are not our children give no event when they end,
 * so this polls; it waits for a condition, bounded by the test's timeout, not for a length of time.
 */
export async function waitUntilGone(pids: readonly number[]): Promise<void> {
  while (pids.some((pid) => pid !== process.pid && isAlive(pid))) await delay(GONE_POLL_MS);
}
