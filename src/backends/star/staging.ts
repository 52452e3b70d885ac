/**
 * Where one worker's allreduce chunks land at rank 0 (spec/backend-tcp.md §5.3): a ring of at most
 * STAGING_BUDGET_BYTES, reused from chunk to chunk and from round to round. Each payload (its 8-byte
 * AllreduceSend prefix, then data) starts 8-aligned, so the data is reduced in place without a copy
 * and nothing is allocated per frame; a chunk is released when the reduction has used it, and its
 * space is written again. A payload that finds no free space is buffered by the reader instead.
 *
 * Only one contribution of a worker stages at a time (the oldest one still wanted): the ring's live
 * chunks are exactly that contribution's unreleased frames that are views of the ring.
 */
import { ALLREDUCE_PREFIX_BYTES } from './protocol.js';
import type { Contribution } from './contribution.js';

/**
 * Staging rank 0 keeps per worker, whatever the collective (bytes): a 2 MiB allreduce fits whole with
 * its frame prefixes, a larger one streams through it (30 default chunks ahead of the reduction).
 */
export const STAGING_BUDGET_BYTES = 8 * 1024 * 1024;

/** Frames smaller than this (bytes) are not counted on to fit; their prefixes are slack below. */
const STAGED_FRAME_MIN_BYTES = 4096;
/** Staging per staged frame (bytes): its 8-byte prefix plus up to 7 bytes of 8-alignment, rounded up. */
const STAGING_PER_FRAME_BYTES = 16;
/** Staging slack per contribution (bytes), for the last frame's prefix and alignment. */
const STAGING_SLACK_BYTES = 64;
/** Payloads start at multiples of this (bytes): float64 data after the prefix stays aligned. */
const ALIGN_BYTES = 8;

/** Staging that holds a whole contribution of `bytes`: its data plus each frame's prefix and alignment. */
function wholeContributionBytes(bytes: number): number {
  return bytes + STAGING_PER_FRAME_BYTES * Math.ceil(bytes / STAGED_FRAME_MIN_BYTES) + STAGING_SLACK_BYTES;
}

const aligned = (at: number): number => Math.ceil(at / ALIGN_BYTES) * ALIGN_BYTES;

export class StagingRing {
  #area: Uint8Array | null = null;
  /** Where the next payload starts when it fits there (bytes into #area, 8-aligned). */
  #cursor = 0;

  /**
   * A slot of exactly `bytes` for the next AllreduceSend payload of `c`, overlapping none of c's
   * unreleased staged frames; null when no such slot is free (the payload is then buffered).
   */
  slotFor(c: Contribution, bytes: number): Uint8Array | null {
    const oldest = this.#oldestLive(c);
    if (oldest < 0) {
      // Nothing staged is live: start over at 0, grown (up to the budget) for this contribution.
      const wanted = Math.min(STAGING_BUDGET_BYTES, wholeContributionBytes(c.bytes));
      if (this.#area === null || this.#area.byteLength < wanted) this.#area = new Uint8Array(wanted);
      this.#cursor = 0;
      return this.#take(0, bytes, this.#area.byteLength);
    }
    const size = (this.#area as Uint8Array).byteLength;
    // Live chunks lie in [oldest, cursor) when the cursor is past the oldest, else they wrap round.
    if (this.#cursor > oldest) return this.#take(this.#cursor, bytes, size) ?? this.#take(0, bytes, oldest);
    return this.#take(this.#cursor, bytes, oldest);
  }

  /** Gives the ring's memory back (close); a later slotFor allocates afresh. */
  release(): void {
    this.#area = null;
    this.#cursor = 0;
  }

  /** Start of the oldest live chunk of `c` in the ring (bytes), or -1 when none is live. */
  #oldestLive(c: Contribution): number {
    const area = this.#area;
    if (area === null) return -1;
    for (const frame of c.frames)
      if (frame.buffer === area.buffer) return frame.byteOffset - area.byteOffset - ALLREDUCE_PREFIX_BYTES;
    return -1;
  }

  #take(at: number, bytes: number, end: number): Uint8Array | null {
    if (at + bytes > end) return null;
    this.#cursor = aligned(at + bytes);
    return (this.#area as Uint8Array).subarray(at, at + bytes);
  }
}
