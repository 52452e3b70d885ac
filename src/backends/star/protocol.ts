/**
 * The wire vocabulary of the tcp backend (spec/backend-tcp.md §2–§3): tags, sizes and the fixed-layout
 * payloads of control frames. Pure: no sockets, so every encoder and decoder can be tested directly.
 *
 * A frame is: u32 big-endian length of (tag + payload), u8 tag, payload. All integers of control
 * payloads are big-endian except fingerprints, which keep their own little-endian word form.
 */
import { FINGERPRINT_BYTES, FINGERPRINT_WORDS } from '../../communicator/fingerprint.js';

/**
 * 2: Handshake carries the job id (§3), Timeout and Warning what the silent ranks last did (§2.2).
 * 3: the worker proves the token first; Challenge carries only rank 0's nonce, Ack rank 0's proof (§3.1).
 * 4: a small contribution rides in its Begin, a small result in a Result frame that is also the Go (§2.5).
 * 5: messages between ranks, relayed through rank 0 (MessageTo, MessageFrom, MessageMore, Fail; §12).
 * 6: direct links between workers (PeerHello; message frames on them; §14).
 */
export const PROTOCOL_VERSION = 6;

/** u32 length + u8 tag. */
export const FRAME_HEADER_BYTES = 5;
/** The length field counts the tag byte too, so a frame's length is at least this. */
export const MIN_FRAME_LENGTH = 1;

export const Tag = {
  AllgathervSend: 0x01,
  AllgathervRecv: 0x02,
  AllreduceSend: 0x03,
  AllreduceRecv: 0x04,
  Broadcast: 0x05,
  BarrierReady: 0x06,
  BarrierGo: 0x07,
  Handshake: 0x08,
  Ack: 0x09,
  Shutdown: 0x0a,
  /** Appended tags (spec §2.3). */
  Begin: 0x0b,
  Mismatch: 0x0c,
  Abort: 0x0d,
  Reject: 0x0e,
  Challenge: 0x0f,
  Auth: 0x10,
  Timeout: 0x11,
  Warning: 0x12,
  /** Version 4 (spec §2.5): u32 sequence, then the rest of the worker's result; also the Go. */
  Result: 0x13,
  /** Version 5 (spec §12): a message's first frame, worker → 0: u32 dest, u64 bytes, u8 H, header, piece. */
  MessageTo: 0x14,
  /** Version 5: a message's first frame, 0 → worker: u32 source, then as MessageTo. */
  MessageFrom: 0x15,
  /** Version 5: the next piece of a message, both ways: u32 dest (worker → 0) or source (0 → worker), piece. */
  MessageMore: 0x16,
  /** Version 5, worker → 0: this rank ended the group (a message timed out): u8 L, L bytes code, UTF-8 reason. */
  Fail: 0x17,
  /** Version 6 (spec §14.2): the first frame on a direct link, dialer → acceptor (peers/handshake.ts). */
  PeerHello: 0x18,
} as const;
export type TagValue = (typeof Tag)[keyof typeof Tag];

const TAG_NAMES = new Map<number, string>(Object.entries(Tag).map(([name, value]) => [value, name]));

export function isKnownTag(tag: number): tag is TagValue {
  return TAG_NAMES.has(tag);
}

export function tagName(tag: number): string {
  return TAG_NAMES.get(tag) ?? `0x${tag.toString(16).padStart(2, '0')}`;
}

/** Data chunk size: a collective's data travels in frames of at most this many bytes (spec §4.1). */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** The largest chunk a sender may use; receivers size their frame limit from it. */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** The largest frame payload after the handshake: a chunk plus its op/dtype prefix, or a Mismatch of a big group. */
export const MAX_FRAME_PAYLOAD = MAX_CHUNK_BYTES + 64;
/** Before a peer is authenticated it may send only small frames (handshake messages, a Reject's text). */
export const MAX_HANDSHAKE_PAYLOAD = 1024;
/** Groups larger than this would make a Mismatch frame exceed MAX_FRAME_PAYLOAD. */
export const MAX_GROUP_SIZE = Math.floor((MAX_FRAME_PAYLOAD - 8) / (1 + FINGERPRINT_BYTES));

/** What a rank's backend method was: the fingerprint's kind is not enough (objects reuse broadcast). */
export const Action = { allreduce: 1, allgatherv: 2, broadcast: 3, barrier: 4 } as const;
export type ActionCode = (typeof Action)[keyof typeof Action];
export type ActionName = keyof typeof Action;

export function actionName(code: number): ActionName | undefined {
  return (Object.keys(Action) as ActionName[]).find((name) => Action[name] === code);
}

/**
 * AllreduceSend starts with op and dtype codes, then zero bytes up to this length, so that the data
 * after it keeps 8-byte alignment in a received frame and can be reduced in place, without a copy.
 */
export const ALLREDUCE_PREFIX_BYTES = 8;

/** Begin: u32 sequence, u8 action, 24-byte fingerprint, u64 contribution bytes (hi, lo). */
export const BEGIN_PAYLOAD_BYTES = 4 + 1 + FINGERPRINT_BYTES + 8;

/**
 * A Begin that carries its contribution (spec §2.5) has zero bytes after its 37 fields up to this
 * payload offset, then the data: 5 + 43 = 48, so the data lies 8-aligned from the frame's first byte
 * and a frame at the start of a received chunk is reduced in place, without a copy.
 */
export const BEGIN_DATA_OFFSET = 43;
/** The zero bytes between a Begin's fields and its carried data; shared, never written. */
export const BEGIN_DATA_PAD = new Uint8Array(BEGIN_DATA_OFFSET - BEGIN_PAYLOAD_BYTES);

/**
 * Default for `smallBytes` (spec §2.5): a contribution up to this many bytes rides in its Begin, and
 * a worker whose whole result is at most this gets it in one Result frame that is also the Go. Well
 * under the 4 KiB below which frames are copied into one write, so such a collective is one small
 * frame and one write each way.
 */
export const DEFAULT_SMALL_BYTES = 2048;

/** Result: u32 sequence, then data. */
export const RESULT_HEADER_BYTES = 4;

export interface BeginFrame {
  sequence: number;
  action: ActionCode;
  fingerprint: Int32Array;
  /** How many data bytes this rank sends for the collective, in its Begin or in data frames after it. */
  contributionBytes: number;
  /** Version 4: the contribution, carried in the Begin (a view of the payload); null when it follows. */
  data?: Buffer | null;
}

export function encodeBegin(begin: BeginFrame): Buffer {
  const out = Buffer.allocUnsafe(BEGIN_PAYLOAD_BYTES);
  out.writeUInt32BE(begin.sequence >>> 0, 0);
  out.writeUInt8(begin.action, 4);
  for (let w = 0; w < FINGERPRINT_WORDS; w++) out.writeInt32LE(begin.fingerprint[w] as number, 5 + 4 * w);
  out.writeUInt32BE(Math.floor(begin.contributionBytes / 0x1_0000_0000), 29);
  out.writeUInt32BE(begin.contributionBytes >>> 0, 33);
  return out;
}

/**
 * A Begin's payload is its 37 bytes of fields (data, if any, follows in data frames), or, carrying
 * its contribution, BEGIN_DATA_OFFSET + the announced bytes (at least one) with zero padding.
 */
export function decodeBegin(payload: Buffer): BeginFrame {
  if (payload.length !== BEGIN_PAYLOAD_BYTES && payload.length <= BEGIN_DATA_OFFSET) {
    throw protocolError(
      'BAD_PAYLOAD',
      `Begin payload is ${payload.length} bytes, expected ${BEGIN_PAYLOAD_BYTES}, or more than ${BEGIN_DATA_OFFSET} with its data`,
    );
  }
  const action = payload.readUInt8(4);
  if (actionName(action) === undefined)
    throw protocolError('BAD_PAYLOAD', `Begin has unknown action ${action}`);
  const fingerprint = new Int32Array(FINGERPRINT_WORDS);
  for (let w = 0; w < FINGERPRINT_WORDS; w++) fingerprint[w] = payload.readInt32LE(5 + 4 * w);
  const contributionBytes = payload.readUInt32BE(29) * 0x1_0000_0000 + payload.readUInt32BE(33);
  if (!Number.isSafeInteger(contributionBytes)) {
    throw protocolError('BAD_PAYLOAD', `Begin announces ${contributionBytes} bytes`);
  }
  let data: Buffer | null = null;
  if (payload.length > BEGIN_PAYLOAD_BYTES) {
    if (payload.length - BEGIN_DATA_OFFSET !== contributionBytes) {
      throw protocolError(
        'BAD_PAYLOAD',
        `Begin carries ${payload.length - BEGIN_DATA_OFFSET} data bytes but announces ${contributionBytes}`,
      );
    }
    for (let at = BEGIN_PAYLOAD_BYTES; at < BEGIN_DATA_OFFSET; at++)
      if (payload[at] !== 0) throw protocolError('BAD_PAYLOAD', 'Begin padding is not zero');
    data = payload.subarray(BEGIN_DATA_OFFSET);
  }
  return {
    sequence: payload.readUInt32BE(0),
    action: action as ActionCode,
    fingerprint,
    contributionBytes,
    data,
  };
}

/** Go, Mismatch, Timeout and Warning all start with the u32 sequence of the collective they end. */
export function encodeSequence(sequence: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(sequence >>> 0, 0);
  return out;
}

export function decodeSequence(payload: Buffer, what: string): number {
  if (payload.length !== 4)
    throw protocolError('BAD_PAYLOAD', `${what} payload is ${payload.length} bytes, expected 4`);
  return payload.readUInt32BE(0);
}

/** Mismatch: u32 sequence, u32 rank count R, then R × (u8 action, 24-byte fingerprint). */
export function encodeMismatch(sequence: number, actions: number[], fingerprints: Int32Array[]): Buffer {
  const entry = 1 + FINGERPRINT_BYTES;
  const out = Buffer.allocUnsafe(8 + fingerprints.length * entry);
  out.writeUInt32BE(sequence >>> 0, 0);
  out.writeUInt32BE(fingerprints.length, 4);
  fingerprints.forEach((words, r) => {
    out.writeUInt8(actions[r] as number, 8 + r * entry);
    for (let w = 0; w < FINGERPRINT_WORDS; w++) out.writeInt32LE(words[w] as number, 9 + r * entry + 4 * w);
  });
  return out;
}

export function decodeMismatch(payload: Buffer): { sequence: number; fingerprints: Int32Array[] } {
  const entry = 1 + FINGERPRINT_BYTES;
  if (payload.length < 8) throw protocolError('BAD_PAYLOAD', 'Mismatch payload shorter than 8 bytes');
  const count = payload.readUInt32BE(4);
  if (payload.length !== 8 + count * entry) {
    throw protocolError('BAD_PAYLOAD', `Mismatch payload is ${payload.length} bytes for ${count} ranks`);
  }
  const fingerprints: Int32Array[] = [];
  for (let r = 0; r < count; r++) {
    const words = new Int32Array(FINGERPRINT_WORDS);
    for (let w = 0; w < FINGERPRINT_WORDS; w++) words[w] = payload.readInt32LE(9 + r * entry + 4 * w);
    fingerprints.push(words);
  }
  return { sequence: payload.readUInt32BE(0), fingerprints };
}

/** A Timeout's or Warning's account of the silent ranks is cut to this many UTF-16 code units. */
export const SILENCE_DETAIL_MAX_UNITS = 1000;

/**
 * Timeout and Warning: u32 sequence, u32 stall milliseconds, u32 count M, M × u32 silent rank, then
 * UTF-8 text: what rank 0 last saw each silent rank do (may be empty; version 2).
 */
export function encodeSilentRanks(
  sequence: number,
  stalledMs: number,
  ranks: readonly number[],
  detail = '',
): Buffer {
  const text = Buffer.from(detail.slice(0, SILENCE_DETAIL_MAX_UNITS), 'utf8');
  const out = Buffer.allocUnsafe(12 + 4 * ranks.length + text.length);
  out.writeUInt32BE(sequence >>> 0, 0);
  out.writeUInt32BE(Math.min(Math.round(stalledMs), 0xffff_ffff), 4);
  out.writeUInt32BE(ranks.length, 8);
  ranks.forEach((r, i) => out.writeUInt32BE(r, 12 + 4 * i));
  text.copy(out, 12 + 4 * ranks.length);
  return out;
}

export function decodeSilentRanks(payload: Buffer): {
  sequence: number;
  stalledMs: number;
  ranks: number[];
  detail: string;
} {
  if (payload.length < 12 || payload.length < 12 + 4 * payload.readUInt32BE(8)) {
    throw protocolError('BAD_PAYLOAD', `silent-ranks payload of ${payload.length} bytes is malformed`);
  }
  const end = 12 + 4 * payload.readUInt32BE(8);
  const ranks: number[] = [];
  for (let at = 12; at < end; at += 4) ranks.push(payload.readUInt32BE(at));
  return {
    sequence: payload.readUInt32BE(0),
    stalledMs: payload.readUInt32BE(4),
    ranks,
    detail: payload.toString('utf8', end),
  };
}

/** An Abort's reason is cut to this many UTF-16 code units (at most 3 UTF-8 bytes each). */
export const ABORT_REASON_MAX_UNITS = 1000;

/** Abort: u32 failed rank, UTF-8 reason. Reject: u8 reason code, UTF-8 message. */
export function encodeAbort(rank: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, ABORT_REASON_MAX_UNITS), 'utf8');
  const out = Buffer.allocUnsafe(4 + text.length);
  out.writeUInt32BE(rank >>> 0, 0);
  text.copy(out, 4);
  return out;
}

export function decodeAbort(payload: Buffer): { rank: number; reason: string } {
  if (payload.length < 4) throw protocolError('BAD_PAYLOAD', 'Abort payload shorter than 4 bytes');
  return { rank: payload.readUInt32BE(0), reason: payload.toString('utf8', 4) };
}

export type ProtocolErrorCode =
  | 'FRAME_TOO_SHORT'
  | 'FRAME_TOO_LARGE'
  | 'UNKNOWN_TAG'
  | 'UNEXPECTED_FRAME'
  | 'BAD_PAYLOAD'
  | 'HANDSHAKE_REJECTED';

/** A peer broke the protocol; the connection that carried it ends (spec §7). */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The one place protocol errors are built, so every one carries a stable code. */
export function protocolError(code: ProtocolErrorCode, message: string): ProtocolError {
  return new ProtocolError(code, `${code}: ${message}`);
}
