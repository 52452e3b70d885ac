/**
 * The mailbox region of a shm group (spec/backend-shm.md §9.1): one single-producer/single-consumer
 * byte ring per ordered pair of ranks, and one doorbell line per rank. The pair channel
 * (channel.ts) writes frames into the ring towards their destination and rings its doorbell; the
 * destination drains its inbound rings. Allocated with the group; a SharedArrayBuffer is zero pages
 * until touched, so a pair that never talks costs no memory.
 */
import { BackendError } from '../../communicator/errors.js';

/** "MBX1": tells a mailbox region from any other SharedArrayBuffer. */
export const MAILBOX_MAGIC = 0x4d425831;
/** Largest ring per ordered pair by default: a 1 MiB message streams through it in 4 pieces, pipelined. */
export const DEFAULT_MAX_RING_BYTES = 256 * 1024;
/** The default rings of a group never exceed this in all (virtual memory, committed as touched). */
export const MAX_DEFAULT_MAILBOX_BYTES = 256 * 1024 * 1024;
/** The smallest ring: a frame's prefix and largest header (8 + 64 bytes) fit with room to spare. */
export const MIN_RING_BYTES = 256;
/** The largest ring accepted (ring positions are 32-bit byte counters). */
export const MAX_RING_BYTES = 1024 * 1024 * 1024;
const LINE_BYTES = 64;
const LINE_WORDS = LINE_BYTES / 4;

/** Words of the region's first line. */
export const MAILBOX_WORD = { MAGIC: 0, RING_BYTES: 1 } as const;
/** Words of a rank's doorbell line (at `rankLine(r)`), rung by every producer towards it. */
export const DOORBELL_WORD = {
  /** + 1 each time a producer published bytes towards this rank. */
  BELL: 0,
} as const;
/**
 * Words of a pair's producer line (written by the sender) and consumer line (the next line,
 * written by the receiver): no false sharing between the two ends.
 */
export const PAIR_WORD = {
  /** Producer: bytes ever published (mod 2^32). */
  HEAD: 0,
  /** Producer or consumer: 1 + the group generation the ring was last reset for; -1 while resetting. */
  EPOCH: 1,
  /** Producer: 1 while a post waits for room; the consumer notifies TAIL then. */
  PRODUCER_WAITING: 2,
  /** Consumer (next line): bytes ever consumed (mod 2^32). */
  TAIL: LINE_WORDS,
} as const;

export interface MailboxLayout {
  readonly size: number;
  readonly ringBytes: number;
  /** Word index of rank 0's doorbell line. */
  readonly doorbells: number;
  /** Word index of pair 0's producer line. */
  readonly pairs: number;
  /** Byte offset of ring 0. */
  readonly rings: number;
  readonly bytes: number;
}

/** Index of the ordered pair (from → to), from ≠ to: size·(size−1) pairs. */
export function pairIndex(size: number, from: number, to: number): number {
  return from * (size - 1) + (to < from ? to : to - 1);
}

export function mailboxLayout(size: number, ringBytes: number): MailboxLayout {
  const pairCount = size * (size - 1);
  const doorbells = LINE_WORDS;
  const pairs = doorbells + size * LINE_WORDS;
  const rings = (pairs + pairCount * 2 * LINE_WORDS) * 4;
  return { size, ringBytes, doorbells, pairs, rings, bytes: rings + pairCount * ringBytes };
}

const floorPow2 = (n: number): number => 2 ** Math.floor(Math.log2(n));

/** The default ring per pair: DEFAULT_MAX_RING_BYTES, shrunk (to a power of two) so all fit the budget. */
export function defaultRingBytes(size: number): number {
  const pairs = Math.max(1, size * (size - 1));
  const fair = floorPow2(Math.max(MIN_RING_BYTES, MAX_DEFAULT_MAILBOX_BYTES / pairs));
  return Math.max(MIN_RING_BYTES, Math.min(DEFAULT_MAX_RING_BYTES, fair));
}

/** Checks a caller's ringBytes: a power of two in [MIN_RING_BYTES, MAX_RING_BYTES]. */
export function checkRingBytes(ringBytes: unknown): number {
  if (
    typeof ringBytes !== 'number' ||
    !Number.isInteger(ringBytes) ||
    ringBytes < MIN_RING_BYTES ||
    ringBytes > MAX_RING_BYTES ||
    (ringBytes & (ringBytes - 1)) !== 0
  ) {
    throw new BackendError(
      'IncompatibleSettings',
      `createShmGroup: ringBytes must be a power of two in [${MIN_RING_BYTES}, ${MAX_RING_BYTES}], got ${String(ringBytes)}`,
      { ringBytes },
      'omit ringBytes for the default, or pass e.g. 65536',
    );
  }
  return ringBytes;
}

/** Allocates a group's mailbox region (zero-filled: every ring empty, epoch 0 = never used). */
export function createMailboxes(size: number, ringBytes: number): SharedArrayBuffer {
  const layout = mailboxLayout(size, ringBytes);
  const buffer = new SharedArrayBuffer(layout.bytes);
  const words = new Int32Array(buffer, 0, LINE_WORDS);
  words[MAILBOX_WORD.MAGIC] = MAILBOX_MAGIC;
  words[MAILBOX_WORD.RING_BYTES] = ringBytes;
  return buffer;
}

/** The layout a mailbox region describes, or a reason it is not one for a group of `size`. */
export function readMailboxLayout(buffer: SharedArrayBuffer, size: number): MailboxLayout | string {
  if (buffer.byteLength < LINE_BYTES) return `the mailbox region is ${buffer.byteLength} B`;
  const words = new Int32Array(buffer, 0, LINE_WORDS);
  const ringBytes = words[MAILBOX_WORD.RING_BYTES] as number;
  if (words[MAILBOX_WORD.MAGIC] !== MAILBOX_MAGIC) return 'the mailbox region has no mailbox magic';
  if (ringBytes < MIN_RING_BYTES || ringBytes > MAX_RING_BYTES || (ringBytes & (ringBytes - 1)) !== 0) {
    return `the mailbox ring size ${ringBytes} B is not a power of two in [${MIN_RING_BYTES}, ${MAX_RING_BYTES}]`;
  }
  const layout = mailboxLayout(size, ringBytes);
  if (buffer.byteLength < layout.bytes) {
    return `the mailbox region is ${buffer.byteLength} B, but ${size} ranks with ${ringBytes} B rings need ${layout.bytes} B`;
  }
  return layout;
}

/** Word index of `rank`'s doorbell line. */
export function doorbellWord(layout: MailboxLayout, rank: number): number {
  return layout.doorbells + rank * LINE_WORDS;
}

/** Word index of pair (from → to)'s producer line; its consumer line follows. */
export function pairWord(layout: MailboxLayout, from: number, to: number): number {
  return layout.pairs + pairIndex(layout.size, from, to) * 2 * LINE_WORDS;
}

/** Byte offset of pair (from → to)'s ring. */
export function ringByte(layout: MailboxLayout, from: number, to: number): number {
  return layout.rings + pairIndex(layout.size, from, to) * layout.ringBytes;
}
