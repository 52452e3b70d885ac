/**
 * The message layer's frame header (spec/communicator.md §10.5): a fixed layout of
 * {@link HEADER_BYTES} bytes, little-endian, led by a version byte. The backend carries it as
 * opaque bytes; only this file reads or writes it. Decoding checks every field and throws
 * {@link BadHeader} on anything else, so a garbled or foreign frame is reported, never guessed at.
 *
 * | offset | size | field                                             |
 * |-------:|-----:|---------------------------------------------------|
 * |      0 |    1 | version ({@link HEADER_VERSION})                  |
 * |      1 |    1 | type: EAGER 1, RTS 2, CTS 3, DATA 4               |
 * |      2 |    1 | kind: dtype code 0–10 or OBJECT_KIND 255          |
 * |      3 |    1 | flags: bit 0 DISCARD (a CTS whose DATA is unwanted) |
 * |      4 |    4 | context, u32                                      |
 * |      8 |    4 | tag, i32 (≥ 0)                                    |
 * |     12 |    8 | payload bytes, u64 (≤ 2^53 − 1)                   |
 * |     20 |    4 | message id, u32 (the sender's, RTS/CTS/DATA)      |
 * |     24 |    4 | receive id, u32 (the receiver's, CTS/DATA)        |
 */
import { MAX_HEADER_BYTES } from './channel.js';

export const HEADER_VERSION = 1;
export const HEADER_BYTES = 28;

/** The frame types of the protocol (§10.5): eager data, request to send, clear to send, rendezvous data. */
export const FrameType = { EAGER: 1, RTS: 2, CTS: 3, DATA: 4 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** A CTS with this flag: the receiver consumed the message without its payload (truncation); send no DATA. */
export const FLAG_DISCARD = 1;

const KNOWN_FLAGS = FLAG_DISCARD;
const U32_LIMIT = 2 ** 32;

if (HEADER_BYTES > MAX_HEADER_BYTES)
  throw new Error('internal error: the message header outgrew MAX_HEADER_BYTES');

export interface Header {
  type: FrameType;
  kind: number;
  flags: number;
  context: number;
  tag: number;
  /** The payload's length in bytes (for RTS: the length DATA will have). */
  bytes: number;
  messageId: number;
  receiveId: number;
}

/** A frame that is not a header of this version: an internal error (a bug or a foreign peer). */
export class BadHeader extends Error {
  override name = 'BadHeader';
}

export function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const view = new DataView(out.buffer);
  out[0] = HEADER_VERSION;
  out[1] = h.type;
  out[2] = h.kind;
  out[3] = h.flags;
  view.setUint32(4, h.context, true);
  view.setInt32(8, h.tag, true);
  view.setUint32(12, h.bytes % U32_LIMIT, true);
  view.setUint32(16, Math.floor(h.bytes / U32_LIMIT), true);
  view.setUint32(20, h.messageId, true);
  view.setUint32(24, h.receiveId, true);
  return out;
}

export function decodeHeader(bytes: Uint8Array): Header {
  if (bytes.length !== HEADER_BYTES) {
    throw new BadHeader(`a message header has ${HEADER_BYTES} bytes, this one has ${bytes.length}`);
  }
  if (bytes[0] !== HEADER_VERSION) {
    throw new BadHeader(
      `header version ${bytes[0]}, expected ${HEADER_VERSION} (a peer of another version?)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = bytes[1] as number;
  if (type < FrameType.EAGER || type > FrameType.DATA) throw new BadHeader(`unknown frame type ${type}`);
  const flags = bytes[3] as number;
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new BadHeader(`unknown header flags 0x${flags.toString(16)}`);
  const tag = view.getInt32(8, true);
  if (tag < 0) throw new BadHeader(`negative tag ${tag}`);
  const high = view.getUint32(16, true);
  const length = high * U32_LIMIT + view.getUint32(12, true);
  if (!Number.isSafeInteger(length)) throw new BadHeader(`payload length ${length} is beyond 2^53 − 1 bytes`);
  return {
    type: type as FrameType,
    kind: bytes[2] as number,
    flags,
    context: view.getUint32(4, true),
    tag,
    bytes: length,
    messageId: view.getUint32(20, true),
    receiveId: view.getUint32(24, true),
  };
}
