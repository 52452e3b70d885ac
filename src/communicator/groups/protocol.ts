/**
 * The messages of a group communicator's collectives (spec/communicator.md §11.4). They travel in
 * the group's collective context (`MessageGroup.context + 1`) with one tag, {@link GROUP_TAG}, and
 * are told apart by their payload kind: a dtype code (0–10) for data, the kinds below for control.
 *
 * Every collective starts with an agreement through group rank 0 (the judge): each other member
 * sends its fingerprint, the judge compares all of them and answers each member with a verdict.
 * Data moves only after an `OK` verdict, and every receive of the data phase is posted before the
 * verdict that lets its sender send, so a rendezvous send of that phase always finds its receive.
 */
import { CommError } from '../errors.js';
import {
  decodeFingerprint,
  encodeFingerprint,
  FINGERPRINT_BYTES,
  FINGERPRINT_WORDS,
  type Fingerprint,
} from '../fingerprint.js';
import { MAX_TAG } from '../messages/layer.js';
import { bytesOf } from '../dtypes.js';

/**
 * The one tag of group-collective messages. The highest user tag, so that a collective on messages
 * that shares the context (rooted collectives, received by explicit source and their own tag) never
 * matches one of these.
 */
export const GROUP_TAG = MAX_TAG;

/** A member's fingerprint, to the judge: FINGERPRINT_BYTES. */
export const KIND_FINGERPRINT = 240;
/** The judge's verdict: every fingerprint agrees, the data phase follows. Empty. */
export const KIND_AGREED = 241;
/** The judge's verdict: the fingerprints differ (or one is a precondition failure). Every rank's fingerprint, in rank order. */
export const KIND_MISMATCH = 242;
/** The judge's verdict: a member closed the communicator. One int32: its rank in the group. */
export const KIND_DEPARTED_RANK = 243;
/** Sent once by a rank that closed the communicator, after its last collective's messages. Empty. */
export const KIND_CLOSED = 244;

export const EMPTY = new Uint8Array(0);

export function encodeFingerprintBytes(fp: Fingerprint): Uint8Array {
  return bytesOf(encodeFingerprint(fp));
}

/** A fingerprint message's payload (FINGERPRINT_BYTES, copied by the layer into its own buffer). */
export function decodeFingerprintBytes(bytes: Uint8Array, at = 0): Fingerprint {
  const words = new Int32Array(FINGERPRINT_WORDS);
  bytesOf(words).set(bytes.subarray(at, at + FINGERPRINT_BYTES));
  return decodeFingerprint(words);
}

/** The judge's KIND_MISMATCH payload: every rank's fingerprint in rank order. */
export function encodeFingerprintList(fps: readonly Fingerprint[]): Uint8Array {
  const out = new Uint8Array(fps.length * FINGERPRINT_BYTES);
  fps.forEach((fp, r) => out.set(encodeFingerprintBytes(fp), r * FINGERPRINT_BYTES));
  return out;
}

export function decodeFingerprintList(bytes: Uint8Array): Fingerprint[] {
  const count = bytes.length / FINGERPRINT_BYTES;
  return Array.from({ length: count }, (_, r) => decodeFingerprintBytes(bytes, r * FINGERPRINT_BYTES));
}

/** An invariant of the group protocol broke: our bug, not the caller's. */
export function protocolError(operation: string, what: string): CommError {
  return new CommError(
    'CollectiveFailed',
    operation,
    `internal error in a split/dup communicator's protocol: ${what}. Please report it; create a new communicator to continue.`,
    { internal: true },
  );
}
