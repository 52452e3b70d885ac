/**
 * The MPI backend's native addon (spec/backend-mpi.md §2): where it is, whether it loads, and why not.
 * scripts/build-mpi.mjs builds it at install where an MPI implementation is found and records the
 * outcome in native/mpi/build-status.json; this module reads that record and loads the addon, once per
 * thread, synchronously (availableBackends() and `collective doctor` ask without starting anything).
 * Loading does not initialise MPI: only {@link MpiNative.init} does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's functions (native/mpi/src/binding.cc). Ids are small integers into native tables. */
export interface MpiNative {
  init(): { world: number; rank: number; size: number; thread: number; library: string };
  finalize(): void;
  abort(code: number): void;
  commDup(comm: number): number;
  commSplitShared(comm: number): number;
  /** [rank, size] in `comm`. */
  commShape(comm: number): [number, number];
  /** True once the request completed (its id is then free); throws an MPI error. */
  test(request: number): boolean;
  iallgather(comm: number, send: ArrayBufferView, recv: ArrayBufferView): number;
  iallgatherv(
    comm: number,
    send: ArrayBufferView,
    recv: ArrayBufferView,
    counts: Int32Array,
    displs: Int32Array,
    unit: number,
  ): number;
  ialltoallv(
    comm: number,
    send: ArrayBufferView,
    sendCounts: Int32Array,
    sendDispls: Int32Array,
    recv: ArrayBufferView,
    recvCounts: Int32Array,
    recvDispls: Int32Array,
    unit: number,
  ): number;
  ibcast(comm: number, buf: ArrayBufferView, root: number, unit: number): number;
  ibarrier(comm: number): number;
  isend(comm: number, dest: number, tag: number, bytes: ArrayBufferView): number;
  /** [source, tag, bytes, message] of a message now matched to this rank, or null. */
  improbe(comm: number, source: number, tag: number): [number, number, number, number] | null;
  imrecv(message: number, bytes: ArrayBufferView): number;
  /** [window, the segment of the comm's rank 0, mapped here]. */
  winAllocateShared(comm: number, bytes: number): [number, ArrayBuffer];
  winSync(window: number): void;
}

/** The addon, or why it is not there: what availability() and doctor report. */
export type AddonState =
  { readonly loaded: true; readonly native: MpiNative } | { readonly loaded: false; readonly reason: string };

const ADDON_URL = new URL('../../../native/mpi/build/Release/collective_mpi.node', import.meta.url);
const STATUS_URL = new URL('../../../native/mpi/build-status.json', import.meta.url);

let state: AddonState | undefined;

/** What the install-time build recorded: its state and reason, or why there is no record. */
export function buildRecord(): { state: string; reason?: string; source?: string } {
  const path = fileURLToPath(STATUS_URL);
  if (!existsSync(path)) {
    return {
      state: 'unknown',
      reason:
        'the install-time build never ran (no native/mpi/build-status.json): run npm rebuild collective',
    };
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { state: string; reason?: string };
  } catch (error) {
    return { state: 'unknown', reason: `native/mpi/build-status.json is unreadable: ${String(error)}` };
  }
}

/** Loads the addon once; never throws. */
export function loadAddon(): AddonState {
  if (state !== undefined) return state;
  const path = fileURLToPath(ADDON_URL);
  if (!existsSync(path)) {
    const record = buildRecord();
    const why =
      record.state === 'built'
        ? 'the addon was built but its file is gone: run npm rebuild collective'
        : (record.reason ?? record.state);
    state = { loaded: false, reason: `the MPI addon is not built (${record.state}): ${why}` };
    return state;
  }
  try {
    state = { loaded: true, native: createRequire(import.meta.url)(path) as MpiNative };
  } catch (error) {
    state = {
      loaded: false,
      reason: `the MPI addon does not load: ${error instanceof Error ? error.message : String(error)} (MPI uninstalled or upgraded since the build? run npm rebuild collective)`,
    };
  }
  return state;
}
