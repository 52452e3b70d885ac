/**
 * A shm group: the two shared regions every rank of one node maps (spec/backend-shm.md §2).
 *
 * The control region holds the barrier words, the abort word, each rank's join flag, arrival epoch
 * and fingerprints. The data region holds 2 halves × size slots; collectives alternate halves so a
 * fast rank never overwrites a slot a slow rank still reads (§3.1). The data region is a shared
 * WebAssembly.Memory where the platform has one, so the SIMD reduction kernel works on it in place.
 */
import { randomFillSync } from 'node:crypto';
import { BackendError } from '../../communicator/errors.js';
import { isWasmMemory, Wasm, type WasmMemory } from '../../communicator/wasm.js';
import { checkRingBytes, createMailboxes, defaultRingBytes } from './mailboxes.js';

/** "SHM1" — tells a control region from any other SharedArrayBuffer. */
export const CONTROL_MAGIC = 0x53484d31;
/**
 * 3: words 12–13 and word 4 of each rank line record ranks gone for good (§5.7). 4: the handle
 * carries the mailbox region of the pair channel (§9).
 */
export const LAYOUT_VERSION = 4;
export const MAX_RANKS = 1024;
/** Low bits of the barrier word that count arrivals (up to MAX_RANKS - 1 before the reset). */
export const COUNT_BITS = 11;
/** Adding this to the barrier word advances the generation by one. */
export const GENERATION_UNIT = 1 << COUNT_BITS;
/** Bytes per data slot when the caller gives no dataBytes: one 2 MiB allreduce fits one chunk. */
export const DEFAULT_SLOT_BYTES = 4 * 1024 * 1024;
/** The default data region never exceeds this, however many ranks (virtual memory, committed lazily). */
export const MAX_DEFAULT_DATA_BYTES = 512 * 1024 * 1024;
/** Slots start on cache lines and hold at least one cache line. */
export const SLOT_ALIGN_BYTES = 64;
/** A slot's size is stored in one int32 word. */
export const MAX_SLOT_BYTES = 1024 * 1024 * 1024;
export const REASON_BYTES = 1024;
const WASM_PAGE_BYTES = 65536;
/**
 * How long a reader waits for an abort's reason once the abort word is reserved (-1). The writer
 * needs a few instructions, but its thread can be terminated between the reservation and the final
 * store: past this the abort is reported with the rank and reason unknown instead of spinning forever.
 */
export const ABORT_REASON_WAIT_MS = 50;
/** What readAbort reports when the aborting thread never finished writing its reason. */
export const UNKNOWN_ABORT_REASON = 'reason unknown: the aborting thread stopped before recording it';
const WORDS_PER_CACHE_LINE = 16;

/** Word indices of the control region (Int32Array), §2.1. */
export const W = {
  MAGIC: 0,
  VERSION: 1,
  SIZE: 2,
  SLOT_BYTES: 3,
  /** Low 32 bits of the group's random id (with GROUP_ID_HIGH: names the region channel, §6). */
  GROUP_ID: 4,
  /** 0 while healthy; failedRank + 2 once aborted (1 = aborted by the launcher, rank unknown). */
  ABORT: 5,
  REASON_LENGTH: 6,
  GROUP_ID_HIGH: 7,
  /** How many ranks have departed (closed, or their thread exited): one load tells a collective none has. */
  DEPARTURES: 8,
  /** Why the group aborted (ABORT_CAUSE), stored before ABORT. */
  ABORT_CAUSE: 9,
  /**
   * The group's generation: 0 at creation, + 1 each time every rank has departed (§5.6). A rank that
   * closed joins again in the next one; a member of an ended generation runs nothing.
   */
  GENERATION: 10,
  /** 1 + the rank that departed first in this generation, 0 while none has: errors name the cause (§5.5). */
  FIRST_DEPARTED: 11,
  /**
   * How many ranks are gone for good: their thread ended after joining the group (§5.7). Never
   * reset: such a rank can join no later generation. On DEPARTURES' cache line: the same check.
   */
  GONE: 12,
  /** 1 + the first rank gone for good, 0 while none is. */
  FIRST_GONE: 13,
  /**
   * The barrier word: arrivals in the current generation in the low COUNT_BITS, the generation in
   * the rest, so the last arriver resets the count and advances the generation with one atomic add
   * (§3.2). Own cache line, shared only with SLEEPERS.
   */
  BARRIER: 16,
  /** Ranks sleeping in Atomics.wait on BARRIER; the releaser notifies only when > 0. */
  SLEEPERS: 17,
  /** Per rank: JOIN_STATE (presence.ts) — absent, joined, or departed and how. */
  JOINED: 48,
} as const;

/** Values of the ABORT_CAUSE word. */
export const ABORT_CAUSE = {
  /** A rank failed or left a barrier half-counted. */
  FAILURE: 0,
  /** A waiting rank's fatal timeout passed: the rank named was silent (§5.3). */
  TIMEOUT: 1,
} as const;
export type AbortCause = (typeof ABORT_CAUSE)[keyof typeof ABORT_CAUSE];

export interface ControlLayout {
  readonly joined: number;
  /** Per rank, RANK_STRIDE_WORDS apart: barriers the rank has entered (its epoch); the timeout names who lags. */
  readonly arrived: number;
  /** [half][rank], RANK_STRIDE_WORDS apart: FINGERPRINT_WORDS words each. */
  readonly fingerprints: number;
  readonly reasonByte: number;
  readonly bytes: number;
}

const alignWords = (w: number): number => Math.ceil(w / WORDS_PER_CACHE_LINE) * WORDS_PER_CACHE_LINE;

/**
 * Words between consecutive ranks' ARRIVED and FP entries: one cache line each, so a rank's writes
 * to its own entries never invalidate the line another rank is writing (no false sharing).
 */
export const RANK_STRIDE_WORDS = WORDS_PER_CACHE_LINE;

export function controlLayout(size: number): ControlLayout {
  const joined = W.JOINED;
  const arrived = alignWords(joined + size);
  const fingerprints = arrived + size * RANK_STRIDE_WORDS;
  const reasonWord = fingerprints + 2 * size * RANK_STRIDE_WORDS;
  return { joined, arrived, fingerprints, reasonByte: reasonWord * 4, bytes: reasonWord * 4 + REASON_BYTES };
}

/**
 * Structured-cloneable: goes in a worker's workerData. Opaque to users: pass the handle
 * {@link createShmGroup} returned, unmodified, to each thread (spec/backend-shm.md §7.1); the
 * fields other than `kind` and `size` are the backend's layout and may change between versions.
 */
export interface ShmGroupHandle {
  /** Always `'collective-shm-group'`. */
  readonly kind: 'collective-shm-group';
  /**
   * The control region's layout version.
   *
   * @internal
   */
  readonly version: number;
  /** The number of ranks of the group. */
  readonly size: number;
  /**
   * The control region (barrier, abort and per-rank words).
   *
   * @internal
   */
  readonly control: SharedArrayBuffer;
  /**
   * The data region; when `memory` is set, this is memory.buffer.
   *
   * @internal
   */
  readonly data: SharedArrayBuffer;
  /**
   * The data region as a shared WebAssembly.Memory (for the SIMD kernel), or null.
   *
   * @internal
   */
  readonly memory: WasmMemory | null;
  /**
   * The mailbox region: one byte ring per ordered pair of ranks, for point-to-point messages (§9).
   *
   * @internal
   */
  readonly mailboxes: SharedArrayBuffer;
}

/** What {@link createShmGroup} takes (spec/backend-shm.md §7.1). */
export interface ShmGroupOptions {
  /** The number of ranks (threads), an integer in [1, 1024]. */
  size: number;
  /**
   * Data region bytes (2 halves × size slots). Default: 4 MiB per slot, at most 512 MiB in all.
   * Larger collectives stream through it in slot-sized chunks; when given, an integer ≥
   * `2 · size · 64`.
   */
  dataBytes?: number;
  /**
   * Bytes of each ordered pair's message ring (spec/backend-shm.md §9.1), a power of two in
   * [256, 2^30]. Default: 256 KiB, reduced so all size·(size−1) rings fit 256 MiB. Larger messages
   * stream through the ring; a small value (tests) walks the same streaming code with small messages.
   */
  ringBytes?: number;
}

/** A shared-memory group made by {@link createShmGroup}. */
export interface ShmGroup {
  /** What each rank's thread needs to join: put it in its workerData, or pass it to init(). */
  readonly handle: ShmGroupHandle;
  /** The number of ranks. */
  readonly size: number;
  /**
   * Launcher use: mark the group failed (a rank's thread died) so every rank's pending/later collective fails fast.
   * Their collectives reject with `CollectiveFailed` naming `failedRank` and `reason` (within 100 ms);
   * the first abort wins, later ones change nothing (spec/backend-shm.md §5.1).
   *
   * @param failedRank - the rank that failed, or -1 when unknown.
   * @param reason - why, e.g. `rank 2's thread exited with code 3` (at most 1024 bytes UTF-8 kept).
   */
  abort(failedRank: number, reason: string): void;
}

function invalid(what: string, value: unknown, suggestion: string): BackendError {
  return new BackendError(
    'IncompatibleSettings',
    `createShmGroup: ${what}, got ${String(value)}`,
    { [what.split(' ')[0] as string]: value },
    suggestion,
  );
}

function slotBytesFor(size: number, dataBytes: number | undefined): number {
  if (dataBytes === undefined) {
    const perSlot = Math.min(DEFAULT_SLOT_BYTES, MAX_DEFAULT_DATA_BYTES / (2 * size));
    return Math.floor(perSlot / SLOT_ALIGN_BYTES) * SLOT_ALIGN_BYTES;
  }
  const min = 2 * size * SLOT_ALIGN_BYTES;
  if (typeof dataBytes !== 'number' || !Number.isInteger(dataBytes) || dataBytes < min) {
    throw invalid(
      `dataBytes must be an integer ≥ ${min} (2 halves × ${size} slots × ${SLOT_ALIGN_BYTES} B)`,
      dataBytes,
      'omit dataBytes for the default, or pass a larger value',
    );
  }
  const perSlot = Math.floor(dataBytes / (2 * size) / SLOT_ALIGN_BYTES) * SLOT_ALIGN_BYTES;
  return Math.min(perSlot, MAX_SLOT_BYTES);
}

/** A shared WebAssembly.Memory of exactly `bytes` (rounded up to pages), or null where unsupported. */
function sharedMemory(bytes: number): WasmMemory | null {
  const pages = Math.ceil(bytes / WASM_PAGE_BYTES);
  if (!Wasm) return null;
  try {
    return new Wasm.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
}

/**
 * The control region's buffer. A plain SharedArrayBuffer starts wherever malloc puts it (16 bytes
 * past a cache line boundary, measured on Linux x64), so every 64-byte rank line of §2.1 would
 * straddle two cache lines and share one with its neighbour rank. A WebAssembly.Memory is
 * page-aligned, so the lines of the layout are the processor's lines.
 */
function controlBuffer(bytes: number): SharedArrayBuffer {
  const memory = sharedMemory(bytes);
  return memory ? (memory.buffer as SharedArrayBuffer) : new SharedArrayBuffer(bytes);
}

/**
 * Creates a shared-memory group for users who start their own worker threads
 * (spec/backend-shm.md §7.1); `train()` and `collective run` do this for you. Allocates the group's
 * control and data regions; starts nothing. Each thread then joins with `init({ group: handle, rank })`
 * or, when the handle is in its workerData under {@link SHM_WORKER_DATA_KEY}, with a plain `init()`.
 * When a thread dies, call `abort(rank, reason)` so the others' collectives fail at once instead of
 * waiting for the timeout.
 *
 * @param options - `size` (ranks) and optionally `dataBytes`; see {@link ShmGroupOptions}.
 * @returns the group: its cloneable `handle`, `size` and `abort`.
 * @throws {@link BackendError} `IncompatibleSettings` when `size` is not an integer in [1, 1024] or
 *   `dataBytes` is too small or not an integer.
 * @example
 * ```ts
 * import { Worker } from 'node:worker_threads';
 * import { createShmGroup, SHM_WORKER_DATA_KEY } from 'collective';
 *
 * const group = createShmGroup({ size: 4 });
 * for (let rank = 0; rank < 4; rank++) {
 *   const worker = new Worker(new URL('./rank.js', import.meta.url), {
 *     workerData: { [SHM_WORKER_DATA_KEY]: { group: group.handle, rank } },
 *   });
 *   worker.on('exit', (code) => code !== 0 && group.abort(rank, `exited with code ${code}`));
 * }
 * // rank.js: const comm = await init(); // backend 'shm', this thread's rank
 * ```
 */
export function createShmGroup(options: ShmGroupOptions): ShmGroup {
  if (options === null || typeof options !== 'object') {
    throw invalid('options must be an object { size, dataBytes? }', options, 'pass { size: N }');
  }
  const size = options.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_RANKS) {
    throw invalid(`size must be an integer in [1, ${MAX_RANKS}]`, size, 'pass the number of ranks');
  }
  const slotBytes = slotBytesFor(size, options.dataBytes);
  const dataBytes = 2 * size * slotBytes;
  const layout = controlLayout(size);
  const control = controlBuffer(layout.bytes);
  const words = new Int32Array(control);
  words[W.MAGIC] = CONTROL_MAGIC;
  words[W.VERSION] = LAYOUT_VERSION;
  words[W.SIZE] = size;
  words[W.SLOT_BYTES] = slotBytes;
  // 64 random bits: groups of one process share the BroadcastChannel namespace (§6).
  const id = randomFillSync(new Int32Array(2));
  words[W.GROUP_ID] = id[0] as number;
  words[W.GROUP_ID_HIGH] = id[1] as number;
  const ringBytes =
    options.ringBytes === undefined ? defaultRingBytes(size) : checkRingBytes(options.ringBytes);
  const memory = sharedMemory(dataBytes);
  const data = memory ? (memory.buffer as SharedArrayBuffer) : new SharedArrayBuffer(dataBytes);
  const handle: ShmGroupHandle = {
    kind: 'collective-shm-group',
    version: LAYOUT_VERSION,
    size,
    control,
    data,
    memory,
    mailboxes: createMailboxes(size, ringBytes),
  };
  return {
    handle,
    size,
    abort: (failedRank, reason) => abortGroup(words, failedRank, reason),
  };
}

/** The name of the group's region channel: unique per group (64 random bits) and generation, §6. */
export function regionChannelName(words: Int32Array, generation: number): string {
  const hex = (w: number): string => ((w >>> 0) + 0x1_0000_0000).toString(16).slice(1);
  const id = `${hex(words[W.GROUP_ID_HIGH] as number)}${hex(words[W.GROUP_ID] as number)}`;
  // Per generation: an announcement of an ended generation never reaches a member of the next.
  return `collective-shm-${id}-g${generation}`;
}

export function isShmGroupHandle(value: unknown): value is ShmGroupHandle {
  if (value === null || typeof value !== 'object') return false;
  const h = value as Partial<ShmGroupHandle>;
  return (
    h.kind === 'collective-shm-group' &&
    typeof h.size === 'number' &&
    h.control instanceof SharedArrayBuffer &&
    h.data instanceof SharedArrayBuffer &&
    h.mailboxes instanceof SharedArrayBuffer &&
    (h.memory === null || isWasmMemory(h.memory))
  );
}

/**
 * Marks the group failed, first writer wins, and wakes every sleeper (§5.1). `failedRank` -1 means
 * the launcher knows something died but not which rank.
 */
export function abortGroup(
  words: Int32Array,
  failedRank: number,
  reason: string,
  cause: AbortCause = ABORT_CAUSE.FAILURE,
): boolean {
  const size = words[W.SIZE] as number;
  const code = Number.isInteger(failedRank) && failedRank >= 0 && failedRank < size ? failedRank + 2 : 1;
  // Reserve the word first so only the winner writes the reason; readers wait for its length.
  if (Atomics.compareExchange(words, W.ABORT, 0, -1) !== 0) return false;
  const layout = controlLayout(size);
  const bytes = new TextEncoder().encode(reason).subarray(0, REASON_BYTES);
  new Uint8Array(words.buffer, layout.reasonByte, REASON_BYTES).set(bytes);
  Atomics.store(words, W.REASON_LENGTH, bytes.length);
  Atomics.store(words, W.ABORT_CAUSE, cause);
  Atomics.store(words, W.ABORT, code);
  Atomics.notify(words, W.BARRIER);
  return true;
}

export interface AbortState {
  /** The failed rank, or -1 when unknown. */
  rank: number;
  reason: string;
  cause: AbortCause;
}

/** null while the group is healthy. */
export function readAbort(words: Int32Array): AbortState | null {
  let code = Atomics.load(words, W.ABORT);
  if (code === 0) return null;
  // -1: the winner is still writing its reason (a few instructions); wait for it, but not forever.
  if (code === -1) {
    const until = performance.now() + ABORT_REASON_WAIT_MS;
    do code = Atomics.load(words, W.ABORT);
    while (code === -1 && performance.now() < until);
    if (code === -1) return { rank: -1, reason: UNKNOWN_ABORT_REASON, cause: ABORT_CAUSE.FAILURE };
  }
  const layout = controlLayout(words[W.SIZE] as number);
  const length = Atomics.load(words, W.REASON_LENGTH);
  const copy = new Uint8Array(length);
  copy.set(new Uint8Array(words.buffer, layout.reasonByte, length));
  const cause =
    Atomics.load(words, W.ABORT_CAUSE) === ABORT_CAUSE.TIMEOUT ? ABORT_CAUSE.TIMEOUT : ABORT_CAUSE.FAILURE;
  return { rank: code - 2, reason: new TextDecoder().decode(copy), cause };
}
