/**
 * The wire form of messages over the star (spec/backend-tcp.md §12.1): one pair-channel frame — a
 * header of at most MAX_HEADER_BYTES and a payload of any length — travels as a MessageTo (worker →
 * rank 0) or MessageFrom (rank 0 → worker) carrying the header and the payload's first piece, then
 * MessageMore frames with the rest, each naming the peer so that pieces of messages from different
 * sources may interleave on one link. Pure: no sockets.
 */
import { CommError } from '../../communicator/errors.js';
import { MAX_HEADER_BYTES } from '../../communicator/messages/channel.js';
import { MAX_FRAME_PAYLOAD, protocolError, Tag } from './protocol.js';

/** A first frame's fixed part: u32 peer, u64 payload bytes (hi, lo), u8 header length. */
export const MESSAGE_FIXED_BYTES = 13;
/** A MessageMore's fixed part: u32 peer. */
export const MORE_FIXED_BYTES = 4;
/** The most payload bytes one message frame carries, whatever chunkBytes is: a frame stays within MAX_FRAME_PAYLOAD. */
export const MAX_MESSAGE_PIECE_BYTES = MAX_FRAME_PAYLOAD - MESSAGE_FIXED_BYTES - MAX_HEADER_BYTES;

export type MessageFrame = readonly [number, readonly Uint8Array[]];

/**
 * The frames of one message, the payload as views (never copied here): `firstTag` (MessageTo or
 * MessageFrom) with `peer`, the header and up to `pieceBytes` of payload, then MessageMore frames.
 */
export function messageFrames(
  firstTag: number,
  peer: number,
  header: Uint8Array,
  payload: Uint8Array,
  pieceBytes: number,
): MessageFrame[] {
  const piece = Math.max(1, Math.min(pieceBytes, MAX_MESSAGE_PIECE_BYTES));
  const fixed = Buffer.allocUnsafe(MESSAGE_FIXED_BYTES + header.byteLength);
  fixed.writeUInt32BE(peer, 0);
  fixed.writeUInt32BE(Math.floor(payload.byteLength / 0x1_0000_0000), 4);
  fixed.writeUInt32BE(payload.byteLength >>> 0, 8);
  fixed.writeUInt8(header.byteLength, 12);
  fixed.set(header, MESSAGE_FIXED_BYTES);
  const frames: MessageFrame[] = [[firstTag, [fixed, payload.subarray(0, piece)]]];
  if (payload.byteLength <= piece) return frames;
  // One peer field for every MessageMore of the message: never written after.
  const more = Buffer.allocUnsafe(MORE_FIXED_BYTES);
  more.writeUInt32BE(peer, 0);
  for (let at = piece; at < payload.byteLength; at += piece)
    frames.push([Tag.MessageMore, [more, payload.subarray(at, Math.min(payload.byteLength, at + piece))]]);
  return frames;
}

export interface MessageStart {
  /** MessageTo: the destination; MessageFrom: the source. */
  peer: number;
  /** The whole payload's length (bytes), over every piece. */
  bytes: number;
  header: Buffer;
  /** The first piece of the payload. */
  piece: Buffer;
}

export function decodeMessageStart(payload: Buffer): MessageStart {
  if (payload.length < MESSAGE_FIXED_BYTES)
    throw protocolError(
      'BAD_PAYLOAD',
      `message frame of ${payload.length} bytes is shorter than its fixed part`,
    );
  const headerBytes = payload.readUInt8(12);
  if (headerBytes > MAX_HEADER_BYTES || payload.length < MESSAGE_FIXED_BYTES + headerBytes)
    throw protocolError(
      'BAD_PAYLOAD',
      `message header of ${headerBytes} bytes (at most ${MAX_HEADER_BYTES})`,
    );
  const bytes = payload.readUInt32BE(4) * 0x1_0000_0000 + payload.readUInt32BE(8);
  const piece = payload.subarray(MESSAGE_FIXED_BYTES + headerBytes);
  if (!Number.isSafeInteger(bytes) || piece.length > bytes)
    throw protocolError('BAD_PAYLOAD', `message announces ${bytes} bytes but carries ${piece.length}`);
  return {
    peer: payload.readUInt32BE(0),
    bytes,
    header: payload.subarray(MESSAGE_FIXED_BYTES, MESSAGE_FIXED_BYTES + headerBytes),
    piece,
  };
}

/** A MessageMore's peer; its piece is `payload.subarray(MORE_FIXED_BYTES)`. */
export function decodeMorePeer(payload: Buffer): number {
  if (payload.length < MORE_FIXED_BYTES)
    throw protocolError('BAD_PAYLOAD', `MessageMore payload of ${payload.length} bytes has no peer`);
  return payload.readUInt32BE(0);
}

/** A Fail's reason is cut to this many UTF-16 code units. */
export const FAIL_REASON_MAX_UNITS = 1000;

/** Fail (worker → 0): u8 L, L bytes of the error's code (ASCII), UTF-8 message. */
export function encodeFail(error: CommError): Buffer {
  const code = Buffer.from(error.code.slice(0, 255), 'latin1');
  const text = Buffer.from(error.message.slice(0, FAIL_REASON_MAX_UNITS), 'utf8');
  return Buffer.concat([Buffer.from([code.length]), code, text]);
}

export function decodeFail(payload: Buffer): { code: string; reason: string } {
  if (payload.length < 1 || payload.length < 1 + payload.readUInt8(0))
    throw protocolError('BAD_PAYLOAD', `Fail payload of ${payload.length} bytes is malformed`);
  const end = 1 + payload.readUInt8(0);
  return { code: payload.toString('latin1', 1, end), reason: payload.toString('utf8', end) };
}
