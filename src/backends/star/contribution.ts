/**
 * What one rank sends for one collective, as rank 0 receives it: the Begin (action, fingerprint,
 * announced byte count) and the data frames that follow, kept in arrival order. Knowing the
 * announced count lets rank 0 consume exactly that rank's data even when the collective is
 * abandoned (spec/backend-tcp.md §5.2), so the streams stay aligned.
 */
import type { DType, NumericArray } from '../../communicator/dtypes.js';
import type { Fingerprint } from '../../communicator/fingerprint.js';
import type { ActionCode } from './protocol.js';

export interface Contribution {
  readonly sequence: number;
  readonly action: ActionCode;
  readonly words: Int32Array;
  readonly fingerprint: Fingerprint;
  readonly bytes: number;
  received: number;
  /** Data payloads not yet released; frames[0] starts at byte `framesStart` of the contribution. */
  readonly frames: Uint8Array[];
  framesStart: number;
  /** When true, arriving data is counted and dropped (the collective was abandoned). */
  discard: boolean;
}

export function isComplete(c: Contribution): boolean {
  return c.received === c.bytes;
}

/**
 * Elements [from, to) (byte offsets) of a contribution as a typed array of `dtype`: a view when the
 * bytes lie in one frame at an aligned offset, else copied into `scratch`. Frames before `from` are
 * released: the reduction walks each contribution once, front to back.
 */
export function elementsOf(
  c: Contribution,
  from: number,
  to: number,
  dtype: DType,
  scratch: Uint8Array,
): NumericArray {
  release(c, from);
  const n = (to - from) / dtype.bytes;
  const first = c.frames[0] as Uint8Array;
  const at = from - c.framesStart;
  if (at + (to - from) <= first.byteLength) {
    const offset = first.byteOffset + at;
    if (offset % dtype.bytes === 0) {
      const view = new dtype.ctor(first.buffer, offset, n);
      release(c, to);
      return view;
    }
  }
  let filled = 0;
  let frameStart = c.framesStart;
  for (const frame of c.frames) {
    if (filled === to - from) break;
    const begin = Math.max(from, frameStart) - frameStart;
    const end = Math.min(to, frameStart + frame.byteLength) - frameStart;
    if (end > begin) {
      scratch.set(frame.subarray(begin, end), filled);
      filled += end - begin;
    }
    frameStart += frame.byteLength;
  }
  release(c, to);
  return new dtype.ctor(scratch.buffer, scratch.byteOffset, n);
}

/**
 * Drops the frames that end at or before byte `upTo`: once a chunk is taken, no frame it used wholly
 * stays held, so what rank 0 holds for the rank a round waits on is at most one partly used frame
 * (spec §5.4 (2)) — the argument that a paused rank never starves the round it is needed for.
 */
function release(c: Contribution, upTo: number): void {
  while (c.frames.length > 0 && c.framesStart + (c.frames[0] as Uint8Array).byteLength <= upTo) {
    c.framesStart += (c.frames.shift() as Uint8Array).byteLength;
  }
}
