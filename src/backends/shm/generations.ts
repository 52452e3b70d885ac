/**
 * Re-joining a shm group (spec/backend-shm.md §5.6). A rank that closed its communicator (or whose
 * thread left without closing) joins the group again in the next generation: when every rank has
 * departed the current one, the last to depart resets the group's words and advances GENERATION
 * (presence.ts nextGeneration). Until then the re-joining rank waits here — the slow ranks are still
 * using the data slots the next generation will reuse — with the same stall warning and fatal
 * timeout as a collective, since what it waits for is a peer's work (§5.3). A rank whose thread has
 * ended can join no later generation (§5.7): the wait then fails at once, naming it.
 */
import { BackendError, CommError } from '../../communicator/errors.js';
import { waitAsync } from '../../communicator/wasm.js';
import { readAbort, W } from './group.js';
import { firstGone, goneReason, JOIN_STATE } from './presence.js';

/** Longest single wait: bounds how late an abort, the deadline or a stall warning is seen. */
export const REJOIN_SLICE_MS = 100;
const MS_PER_SEC = 1000;

/** "rank 1 (its communicator is open), rank 2 (has not joined generation 3 yet)", or ''. */
export function stillInGeneration(words: Int32Array, size: number, generation: number): string {
  const parts: string[] = [];
  for (let r = 0; r < size; r++) {
    const state = Atomics.load(words, W.JOINED + r);
    if (state === JOIN_STATE.JOINED) parts.push(`rank ${r} (its communicator is still open)`);
    else if (state === JOIN_STATE.ABSENT) parts.push(`rank ${r} (has not called init() in it yet)`);
  }
  return parts.length === 0 ? '' : `${parts.join(', ')} of generation ${generation}`;
}

function stillIn(words: Int32Array, size: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < size; r++) if (Atomics.load(words, W.JOINED + r) < JOIN_STATE.CLOSED) out.push(r);
  return out;
}

/**
 * The same error as a collective of the next generation would raise (barrier.ts departedError), so
 * the caller sees one error whichever comes first: the re-join wait or its first collective.
 */
function goneError(rank: number, gone: number, generation: number): CommError {
  const reason = goneReason(gone);
  return new CommError(
    'CollectiveFailed',
    'init',
    `rank ${rank} cannot join its shm group again: ${reason}; every collective needs all ranks, so no later generation can complete one. Start a new run.`,
    { rank: gone, reason, generation },
  );
}

/**
 * Resolves once `rank`'s join word is absent again (the next generation began); throws
 * InitializationFailed if the group aborts or `timeoutSecs` pass first, naming the ranks that are
 * still in the current generation.
 */
export async function awaitNextGeneration(
  words: Int32Array,
  rank: number,
  timeoutSecs: number,
  stallWarningSecs: number,
  warn: (message: string) => void,
): Promise<void> {
  const size = words[W.SIZE] as number;
  const start = performance.now();
  const deadline = start + timeoutSecs * MS_PER_SEC;
  const stallMs = stallWarningSecs * MS_PER_SEC;
  let nextWarning = stallMs > 0 ? start + stallMs : Infinity;
  // A pending waitAsync does not keep the event loop alive: this timer does, until the wait ends.
  const keepAlive = setInterval(() => {}, REJOIN_SLICE_MS);
  try {
    for (;;) {
      const generation = Atomics.load(words, W.GENERATION);
      if (Atomics.load(words, W.JOINED + rank) === JOIN_STATE.ABSENT) return;
      const gone = firstGone(words);
      if (gone >= 0) throw goneError(rank, gone, generation);
      const aborted = readAbort(words);
      if (aborted) {
        throw new BackendError(
          'InitializationFailed',
          `connectShm: rank ${rank} cannot join its shm group again: the group has failed (${aborted.reason})`,
          { rank, failedRank: aborted.rank, generation },
          'read the failed rank’s own error; a failed group cannot be joined again — start a new run',
        );
      }
      const now = performance.now();
      const waited = ((now - start) / MS_PER_SEC).toFixed(1);
      if (now >= deadline) {
        throw new BackendError(
          'InitializationFailed',
          `connectShm: rank ${rank} closed its communicator and called init() again, but after ${waited} s it still waits for ${stillInGeneration(words, size, generation)}: a rank joins its shm group again once every rank has closed the previous communicator`,
          { rank, generation, waitingFor: stillIn(words, size), timeoutSecs },
          'make every rank close() its communicator before any rank calls init() again, the same number of times on every rank, or raise COLLECTIVE_TIMEOUT_SECS',
        );
      }
      if (now >= nextWarning) {
        warn(
          `shm rank ${rank}: init(): waiting ${waited} s for ${stillInGeneration(words, size, generation)} to close the previous communicator of the shm group; still waiting — the fatal timeout is ${timeoutSecs} s (COLLECTIVE_TIMEOUT_SECS)`,
        );
        while (nextWarning <= now) nextWarning += stallMs;
      }
      const slice = Math.max(0, Math.min(REJOIN_SLICE_MS, deadline - now, nextWarning - now));
      const waiting = waitAsync(words, W.GENERATION, generation, slice);
      if (waiting.async) await waiting.value;
    }
  } finally {
    clearInterval(keepAlive);
  }
}
