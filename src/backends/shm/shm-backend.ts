/**
 * The shm Backend: drives the plans of collectives.ts over the group barrier (spec/backend-shm.md
 * §3–§5). In a worker thread a collective runs to completion synchronously — spin, then sleep in
 * Atomics.wait — and the front end resolves it with one promise. On the main thread, whose event
 * loop must never block, a barrier that does not open within the spin budget is awaited with
 * Atomics.waitAsync and the plan resumes from there.
 */
import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import {
  CheckedCommunicator,
  type Backend,
  type Communicator,
  type SharedRegion,
} from '../../communicator/communicator.js';
import { dtypeOf, type DType, type NumericArray, type ReduceOp } from '../../communicator/dtypes.js';
import {
  BackendError,
  CommError,
  DEFAULT_STALL_WARNING_SECS,
  STALL_WARNING_CODE,
  STALL_WARNING_TYPE,
} from '../../communicator/errors.js';
import { BARRIER_FINGERPRINT, rememberable } from '../../communicator/call-shape.js';
import { fingerprint, type Fingerprint } from '../../communicator/fingerprint.js';
import type { PairChannel } from '../../communicator/messages/channel.js';
import { messageLayerFor } from '../../communicator/messages/engine.js';
import { NODE_CONTEXT } from '../../communicator/messages/layer.js';
import { registerSharedMemory } from '../../communicator/simd-kernel.js';
import { SPIN_POLICIES, type SpinPolicy } from './barrier.js';
import {
  AllgathervPlan,
  AllreducePlan,
  BarrierPlan,
  BroadcastPlan,
  RegionAgreementPlan,
  type Plan,
} from './collectives.js';
import {
  abortGroup,
  CONTROL_MAGIC,
  controlLayout,
  isShmGroupHandle,
  LAYOUT_VERSION,
  MAX_RANKS,
  readAbort,
  regionChannelName,
  SLOT_ALIGN_BYTES,
  W,
  type ShmGroupHandle,
} from './group.js';
import { GroupMember } from './member.js';
import { goneReason, isGone, JOIN_STATE, markGone } from './presence.js';
import { awaitNextGeneration } from './generations.js';
import { allocateRegion, RegionChannel, ShmRegion } from './shared-region.js';
import { ShmChannel } from './channel.js';
import { readMailboxLayout, type MailboxLayout } from './mailboxes.js';

/**
 * A rank whose collectives keep completing synchronously returns through the event loop (a
 * setImmediate) at least this often, so its timers, signal relays and ctx.signal still run (§3.6).
 */
export const YIELD_INTERVAL_MS = 5;
/**
 * Reading the clock costs ~0.1–0.2 µs, a fifth of an 8-byte collective: it is read only once this
 * much work has completed synchronously since the last read — one unit per collective plus one per
 * YIELD_UNIT_BYTES of payload, so 16 small collectives or about 1 MiB of data (well under 1 ms).
 */
export const YIELD_CHECK_UNITS = 16;
export const YIELD_UNIT_BYTES = 64 * 1024;

/** Joined state shared by a communicator and the ones its splitLocal() returns. */
interface Membership {
  readonly member: GroupMember;
  readonly regions: RegionChannel;
  /** One pair channel per joined member: splitLocal() communicators share it (§9). */
  readonly channel: ShmChannel;
}

class ShmBackend implements Backend {
  readonly name = 'shm';
  readonly rank: number;
  readonly size: number;
  readonly isLeader: boolean;
  readonly channel: PairChannel;
  readonly #channel: ShmChannel;
  readonly #m: GroupMember;
  readonly #joined: Membership;
  /** A splitLocal() communicator: closing it leaves the group (and its parent) running. */
  readonly #isSplit: boolean;
  #closed = false;
  /**
   * The last plan of each kind, run again when the next call is the same (same fingerprint object,
   * arrays and lengths): a plan's state is rebuilt by its step 0, and one member runs one plan at a
   * time (#run), so a reused plan is never in flight twice. Small arrays only (rememberable).
   */
  #allreducePlan: AllreducePlan | null = null;
  #broadcastPlan: BroadcastPlan | null = null;
  #barrierPlan: BarrierPlan;

  constructor(joined: Membership, isSplit: boolean) {
    this.#joined = joined;
    this.#m = joined.member;
    this.#isSplit = isSplit;
    this.rank = this.#m.rank;
    this.size = this.#m.size;
    this.isLeader = this.rank === 0;
    this.channel = this.#channel = joined.channel;
    this.#barrierPlan = new BarrierPlan(this.#m, BARRIER_FINGERPRINT);
  }

  allreduce(fp: Fingerprint, send: NumericArray, recv: NumericArray, op: ReduceOp): Promise<void> | void {
    let plan = this.#allreducePlan;
    if (plan === null || !plan.fits(fp, send, recv, op)) {
      plan = new AllreducePlan(this.#m, fp, dtypeFor(fp, send), send, recv, op);
      this.#allreducePlan = rememberable(send) && rememberable(recv) ? plan : null;
    }
    return this.#run(plan);
  }

  allgatherv(
    fp: Fingerprint,
    send: NumericArray,
    recv: NumericArray,
    counts: readonly number[],
    displs: readonly number[],
  ): Promise<void> | void {
    return this.#run(new AllgathervPlan(this.#m, fp, dtypeFor(fp, send), send, recv, counts, displs));
  }

  broadcast(fp: Fingerprint, buf: NumericArray, root: number): Promise<void> | void {
    let plan = this.#broadcastPlan;
    if (plan === null || !plan.fits(fp, buf, root)) {
      plan = new BroadcastPlan(this.#m, fp, dtypeFor(fp, buf), buf, root);
      this.#broadcastPlan = rememberable(buf) ? plan : null;
    }
    return this.#run(plan);
  }

  barrier(fp: Fingerprint): Promise<void> | void {
    let plan = this.#barrierPlan;
    if (!plan.fits(fp)) plan = this.#barrierPlan = new BarrierPlan(this.#m, fp);
    return this.#run(plan);
  }

  async createSharedRegion<T extends NumericArray>(
    fp: Fingerprint,
    dtype: DType,
    count: number,
  ): Promise<SharedRegion<T>> {
    const m = this.#m;
    const agreement = new RegionAgreementPlan(m, fp);
    await this.#run(agreement);
    const sequence = agreement.sequence;
    let buffer: SharedArrayBuffer | Error;
    if (this.isLeader) {
      buffer = allocateRegion(dtype, count);
      this.#joined.regions.announce(
        buffer instanceof Error ? { sequence, error: buffer.message } : { sequence, buffer },
      );
    } else {
      const a = await this.#joined.regions.receive(sequence, m.barrier, m.timeoutSecs);
      buffer = 'buffer' in a ? a.buffer : new Error(a.error);
    }
    if (buffer instanceof Error) {
      throw new CommError(
        'AllocationFailed',
        'createSharedRegion',
        `rank 0 could not allocate ${count} ${dtype.name} elements (${buffer.message}); ask for a smaller region.`,
        { count, dtype: dtype.name },
      );
    }
    // A fingerprint of its own: a fence on one rank against a barrier() on another is a mismatch.
    const fence = (): Promise<void> | void => this.#run(new BarrierPlan(m, FENCE_FINGERPRINT));
    return new ShmRegion(new dtype.ctor(buffer, 0, count) as T, this.isLeader, fence);
  }

  async splitLocal(): Promise<Communicator> {
    // Every rank of a shm group is on one node: the local group is the group itself, over the same
    // channel, with contexts of its own so its messages never match the world's (spec/communicator.md §11.2).
    const backend = new ShmBackend(this.#joined, true);
    return new CheckedCommunicator(backend, {
      layer: messageLayerFor(backend.channel, backend.rank, backend.size),
      context: NODE_CONTEXT,
      members: Array.from({ length: backend.size }, (_, r) => r),
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#allreducePlan = null;
    this.#broadcastPlan = null;
    // Its collectives still queued behind another communicator's never arrived anywhere: reject them.
    const queue = this.#m.queue;
    const mine = queue.filter((q) => q.owner === this);
    if (mine.length > 0) queue.splice(0, queue.length, ...queue.filter((q) => q.owner !== this));
    for (const q of mine) q.fail(this.#closedError('close'));
    if (this.#isSplit) return;
    // Closing leaves the group: a departure, not a failure (§5.2). Later joins still succeed; only
    // a collective that needs this rank fails, naming it, and the others never wait for it.
    LIVE.delete(this);
    this.#channel.close();
    this.#m.presence.depart(this.rank, JOIN_STATE.CLOSED);
    this.#joined.regions.close();
  }

  /**
   * The thread is exiting without close() (§5.5). Idle, it departs like a close. With a collective
   * in flight its arrival may be counted in a barrier that now never completes for it, so the
   * group is failed, naming it.
   */
  departOnExit(): void {
    const m = this.#m;
    if (m.busy && !m.presence.ended()) {
      abortGroup(
        m.words,
        this.rank,
        `rank ${this.rank}'s thread exited without close() during collective #${m.sequence}`,
      );
    } else m.presence.depart(this.rank, JOIN_STATE.EXITED);
  }

  /**
   * Runs `plan` now, or after the member's collective in flight (§3.5). The front end orders one
   * communicator's calls; this orders those of every communicator sharing the member (splitLocal)
   * and region fences, so a rank never adds a second arrival to a barrier its peers have not reached.
   */
  #run(plan: Plan): Promise<void> | void {
    const m = this.#m;
    if (!m.busy) return this.#start(plan);
    return new Promise<void>((resolve, reject) => {
      m.queue.push({
        owner: this,
        start: () => {
          try {
            const pending = this.#start(plan);
            if (pending) pending.then(resolve, reject);
            else resolve();
          } catch (error) {
            reject(error);
          }
        },
        fail: reject,
      });
    });
  }

  #start(plan: Plan): Promise<void> | void {
    const m = this.#m;
    if (this.#closed) throw this.#closedError(plan.operation);
    m.barrier.throwIfFailed(plan.operation);
    m.sequence++;
    m.busy = true;
    m.presence.started(m.rank, m.sequence, plan.operation);
    let pending: Promise<void> | void;
    try {
      pending = this.#resume(plan, 0);
    } catch (error) {
      this.#release();
      throw error;
    }
    if (!pending) {
      this.#release();
      return this.#yieldIfDue(plan);
    }
    return pending.then(
      () => this.#release(),
      (error: unknown) => {
        this.#release();
        throw error;
      },
    );
  }

  /**
   * Collectives that complete synchronously resolve through microtasks only, so a loop of them
   * would never let this thread's event loop turn: every YIELD_INTERVAL_MS one returns through a
   * macrotask instead (§3.6).
   */
  #yieldIfDue(plan: Plan): Promise<void> | void {
    const m = this.#m;
    m.sinceClock += 1 + plan.bytes / YIELD_UNIT_BYTES;
    if (m.sinceClock < YIELD_CHECK_UNITS) return;
    m.sinceClock = 0;
    const now = performance.now();
    if (now - m.lastYield < YIELD_INTERVAL_MS) return;
    m.lastYield = now;
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** The collective in flight finished: start the next queued one, if any. */
  #release(): void {
    const m = this.#m;
    m.presence.finished(m.rank, m.sequence);
    m.busy = false;
    if (m.queue.length > 0) m.queue.shift()!.start();
  }

  #closedError(operation: string): CommError {
    return new CommError('InvalidCommunicator', operation, 'the communicator is closed.', {
      rank: this.rank,
    });
  }

  #resume(plan: Plan, from: number): Promise<void> | void {
    const m = this.#m;
    const barrier = m.barrier;
    for (let k = from; ; k++) {
      plan.step(k);
      if (k === plan.barriers) return;
      const generation = barrier.arrive();
      if (barrier.spin(generation)) continue;
      if (m.canBlock && this.#guard(() => barrier.block(generation, plan.operation, m.sequence))) {
        // It slept (up to BLOCK_BUDGET_MS): one such call is worth the whole clock-reading interval (§3.6).
        m.sinceClock = YIELD_CHECK_UNITS;
        continue;
      }
      const next = k + 1;
      return barrier
        .wait(generation, plan.operation, m.sequence, () => this.#closed)
        .catch((error: unknown) => this.#giveUp(error))
        .then(() => this.#resume(plan, next));
    }
  }

  #guard(wait: () => boolean): boolean {
    try {
      return wait();
    } catch (error) {
      this.#giveUp(error);
    }
  }

  /**
   * A rank that stops waiting has left the barrier half-counted: its peers' barrier would open
   * without it and every later round would pair the wrong arrivals, so the group cannot continue.
   */
  #giveUp(error: unknown): never {
    // A Timeout has already failed the group, naming the silent rank (barrier.ts); a departure
    // fails every later collective by itself (§5.5).
    // Once the generation ended (§5.6) no rank of it waits any more: nothing is left half-counted.
    if (error instanceof CommError && error.code === 'InvalidCommunicator' && !this.#m.presence.ended()) {
      // A communicator (a splitLocal one too) was closed while its collective waited (§5.2).
      abortGroup(
        this.#m.words,
        this.rank,
        `rank ${this.rank} closed a communicator during ${error.operation}`,
      );
    }
    throw error;
  }
}

const FENCE_FINGERPRINT = fingerprint('fence');

/**
 * A buffer moves by its own element type, never by the fingerprint's dtype: metadata (the front
 * end's counts and lengths, float64) travels independently of the user's dtype (spec §6.3).
 */
function dtypeFor(_fp: Fingerprint, buf: NumericArray): DType {
  const dtype = dtypeOf(buf);
  if (!dtype) throw new TypeError('shm: internal error: buffer is not a numeric typed array');
  return dtype;
}

export interface ShmConnectOptions {
  group: ShmGroupHandle;
  rank: number;
  /** The fatal timeout: a collective without progress for this long fails with Timeout on every waiting rank. */
  timeoutSecs: number;
  /** Seconds without progress before a stall warning, repeated as often; 0 disables. Default 60. */
  stallWarningSecs?: number;
  /**
   * Whether a waiting rank spins before it sleeps (spec/backend-shm.md §3.3.1): `on` (default)
   * spins first (5 ms in a group that fits the cores, 0.01 ms in one that does not); `auto` spins
   * only while the ranks it waits for can each run on another core, for an adaptive budget (faster
   * when other processes load the cores); `off` never spins. Results are identical; only speed differs.
   */
  spin?: SpinPolicy;
}

/** Live communicators of this thread that joined a group (not splitLocal ones): they depart on exit. */
const LIVE = new Set<ShmBackend>();
/** Every group (control words) and rank this thread has ever joined: gone for good on exit (§5.7). */
const JOINED_EVER = new Map<SharedArrayBuffer, { words: Int32Array; ranks: Set<number> }>();
let exitHooked = false;

function departOnExit(): void {
  // Gone first: a rank woken by the departure below (or by the generation it ends) already sees it.
  for (const { words, ranks } of JOINED_EVER.values()) for (const rank of ranks) markGone(words, rank);
  for (const backend of LIVE) backend.departOnExit();
  LIVE.clear();
}

function rememberJoin(group: ShmGroupHandle, words: Int32Array, rank: number): void {
  let joined = JOINED_EVER.get(group.control);
  if (!joined) JOINED_EVER.set(group.control, (joined = { words, ranks: new Set() }));
  joined.ranks.add(rank);
}

function emitStallWarning(message: string): void {
  process.emitWarning(message, { type: STALL_WARNING_TYPE, code: STALL_WARNING_CODE });
}

function incompatible(message: string, context: Record<string, unknown>, suggestion: string): BackendError {
  return new BackendError('IncompatibleSettings', `connectShm: ${message}`, context, suggestion);
}

/**
 * The handle is structured-cloned data: its buffers must be as large as the layout for its size
 * says (§2), or a collective would fail with a RangeError mid-way instead of here, naming why.
 */
function checkRegionSizes(group: ShmGroupHandle, words: Int32Array): void {
  const size = group.size;
  const controlBytes = controlLayout(size).bytes;
  if (group.control.byteLength < controlBytes) {
    throw incompatible(
      `the control region is ${group.control.byteLength} B, but a group of size ${size} needs ${controlBytes} B`,
      { controlBytes: group.control.byteLength, expected: controlBytes, size },
      'pass the handle createShmGroup returned, unmodified',
    );
  }
  const slotBytes = words[W.SLOT_BYTES] as number;
  if (!(slotBytes > 0) || slotBytes % SLOT_ALIGN_BYTES !== 0) {
    throw incompatible(
      `the slot size is ${slotBytes} B; it must be a positive multiple of ${SLOT_ALIGN_BYTES} B`,
      { slotBytes },
      'pass the handle createShmGroup returned, unmodified',
    );
  }
  const dataBytes = 2 * size * slotBytes;
  const data = group.memory ? group.memory.buffer.byteLength : group.data.byteLength;
  if (data < dataBytes) {
    throw incompatible(
      `the data region is ${data} B, but 2 halves × ${size} slots × ${slotBytes} B need ${dataBytes} B`,
      { dataBytes: data, expected: dataBytes, size, slotBytes },
      'pass the handle createShmGroup returned, unmodified',
    );
  }
}

function mailboxLayoutOf(group: ShmGroupHandle): MailboxLayout {
  const layout = readMailboxLayout(group.mailboxes, group.size);
  if (typeof layout === 'string') {
    throw incompatible(layout, { size: group.size }, 'pass the handle createShmGroup returned, unmodified');
  }
  return layout;
}

/** Joins rank `rank` to the group; the communicator is ready at once (the first collective syncs). */
export async function connectShm(options: ShmConnectOptions): Promise<Communicator> {
  return new CheckedCommunicator(await joinShm(options));
}

/**
 * connectShm without the front end: the raw Backend, for bench/floor (the per-call floor measured
 * part by part). Internal; not exported from the package.
 */
export async function joinShm(options: ShmConnectOptions): Promise<Backend> {
  const { group, rank, timeoutSecs } = options ?? ({} as ShmConnectOptions);
  const stallWarningSecs = options?.stallWarningSecs ?? DEFAULT_STALL_WARNING_SECS;
  const spin = options?.spin ?? 'on';
  if (!isShmGroupHandle(group)) {
    throw incompatible(
      'group is not a shm group handle',
      { group: typeof group },
      'pass createShmGroup({ size }).handle (a launcher puts it in workerData[SHM_WORKER_DATA_KEY].group)',
    );
  }
  // Whole words only: an Int32Array over a ragged buffer would throw a RangeError here.
  const words = new Int32Array(group.control, 0, Math.floor(group.control.byteLength / 4));
  if (
    !(group.size >= 1 && group.size <= MAX_RANKS) ||
    words[W.MAGIC] !== CONTROL_MAGIC ||
    words[W.VERSION] !== LAYOUT_VERSION ||
    words[W.SIZE] !== group.size
  ) {
    throw incompatible(
      'the group handle does not describe a shm control region of this version',
      { version: words[W.VERSION], expected: LAYOUT_VERSION },
      'create the group with the same version of collective that joins it',
    );
  }
  const size = group.size;
  checkRegionSizes(group, words);
  const mailboxes = mailboxLayoutOf(group);
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= size) {
    throw incompatible(
      `rank must be an integer in [0, ${size - 1}] for a group of size ${size}, got ${String(rank)}`,
      { rank, size },
      'give each thread a distinct rank from 0 to size - 1',
    );
  }
  if (typeof timeoutSecs !== 'number' || !(timeoutSecs > 0) || !Number.isFinite(timeoutSecs)) {
    throw incompatible(
      `timeoutSecs must be a positive number of seconds, got ${String(timeoutSecs)}`,
      { timeoutSecs },
      'pass e.g. 60',
    );
  }
  if (
    typeof stallWarningSecs !== 'number' ||
    !(stallWarningSecs >= 0) ||
    !Number.isFinite(stallWarningSecs)
  ) {
    throw incompatible(
      `stallWarningSecs must be a number of seconds ≥ 0 (0 disables the warning), got ${String(stallWarningSecs)}`,
      { stallWarningSecs },
      `omit it for the default ${DEFAULT_STALL_WARNING_SECS} s, or pass e.g. 60`,
    );
  }
  if (!SPIN_POLICIES.includes(spin)) {
    throw incompatible(
      `spin must be one of ${SPIN_POLICIES.join(', ')}, got ${String(spin)}`,
      { spin },
      "omit it for 'on', pass 'auto' where other work shares the cores, or 'off' to never spin",
    );
  }
  const aborted = readAbort(words);
  if (aborted) {
    throw new BackendError(
      'InitializationFailed',
      `connectShm: the shm group has already failed (${aborted.reason})`,
      { rank, failedRank: aborted.rank },
      'create a new group for a new run',
    );
  }
  if (isGone(words, rank)) {
    throw new BackendError(
      'InitializationFailed',
      `connectShm: ${goneReason(rank)} (§5.7)`,
      { rank },
      'give each rank one thread for the life of the run, or create a new group',
    );
  }
  if (Atomics.load(words, W.JOINED + rank) >= JOIN_STATE.CLOSED) {
    // This rank left its generation: it joins the next, once every rank has left this one (§5.6).
    await awaitNextGeneration(words, rank, timeoutSecs, stallWarningSecs, emitStallWarning);
  }
  if (Atomics.compareExchange(words, W.JOINED + rank, JOIN_STATE.ABSENT, JOIN_STATE.JOINED) !== 0) {
    throw incompatible(
      `rank ${rank} has already joined this group and its communicator is still open`,
      { rank, size },
      'close() the communicator before calling init() again, and give each thread a distinct rank',
    );
  }
  // The generation cannot end while this rank is joined: this is the one it joined.
  const generation = Atomics.load(words, W.GENERATION);
  const data = group.memory ? (group.memory.buffer as SharedArrayBuffer) : group.data;
  if (group.memory) registerSharedMemory(group.memory);
  const member = new GroupMember({
    words,
    data,
    rank,
    generation,
    timeoutSecs,
    stallWarningSecs,
    warn: emitStallWarning,
    spin,
    cores: availableParallelism(),
    canBlock: !isMainThread,
  });
  const regions = new RegionChannel(regionChannelName(words, generation));
  const channel = new ShmChannel(member, group.mailboxes, mailboxes, stallWarningSecs);
  const backend = new ShmBackend({ member, regions, channel }, false);
  LIVE.add(backend);
  rememberJoin(group, words, rank);
  if (!exitHooked) {
    // One listener for every communicator of the thread; it keeps nothing alive.
    process.once('exit', departOnExit);
    exitHooked = true;
  }
  return backend;
}
