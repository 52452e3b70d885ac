/**
 * The handshake on a direct link between two workers (spec/backend-tcp.md §14.2). The higher rank
 * dials the lower one's peer listener; the roles mirror a worker joining rank 0 (§3.1), with both
 * ranks bound into every proof:
 *
 *   dialer   → PeerHello(version, flags, dialer rank, acceptor rank, size, dialer nonce, job id)
 *   acceptor → Reject(reason, text)                     (bad version/job/size/rank/token mode, a duplicate)
 *            | Challenge(acceptor nonce)                (token set)
 *   dialer   → Auth(HMAC(token, "collective-tcp/peer-dialer" ‖ nonces ‖ dialer ‖ acceptor ‖ size))
 *   acceptor → Reject(BadToken) | Ack(HMAC(token, "collective-tcp/peer-acceptor" ‖ …)) — empty without a token
 *
 * The dialer proves first, so a stranger at the listener gets nothing keyed by the token (§3.6).
 */
import { createHmac } from 'node:crypto';
import {
  JOB_MISMATCH_ADVICE,
  jobMismatchMessage,
  MAX_JOB_ID_BYTES,
  NONCE_BYTES,
  RejectReason,
  type RejectReasonCode,
} from '../../star/handshake.js';
import { protocolError, PROTOCOL_VERSION } from '../../star/protocol.js';

export { JOB_MISMATCH_ADVICE };

/** u16 version, u8 flags, u32 dialer, u32 acceptor, u32 size, nonce, u8 job id length. */
const PEER_HELLO_FIXED_BYTES = 2 + 1 + 4 + 4 + 4 + NONCE_BYTES + 1;
const FLAG_TOKEN = 0x01;

export interface PeerHello {
  version: number;
  hasToken: boolean;
  /** The rank that dialed (the higher one). */
  dialer: number;
  /** The rank the dialer believes it reached. */
  acceptor: number;
  size: number;
  nonce: Buffer;
  jobId: string | null;
}

export function encodePeerHello(hello: PeerHello): Buffer {
  const job = Buffer.from(hello.jobId ?? '', 'utf8');
  if (job.length > MAX_JOB_ID_BYTES) throw new RangeError(`job id of ${job.length} bytes`);
  const out = Buffer.alloc(PEER_HELLO_FIXED_BYTES + job.length);
  out.writeUInt16BE(hello.version, 0);
  out.writeUInt8(hello.hasToken ? FLAG_TOKEN : 0, 2);
  out.writeUInt32BE(hello.dialer >>> 0, 3);
  out.writeUInt32BE(hello.acceptor >>> 0, 7);
  out.writeUInt32BE(hello.size >>> 0, 11);
  hello.nonce.copy(out, 15);
  out.writeUInt8(job.length, PEER_HELLO_FIXED_BYTES - 1);
  job.copy(out, PEER_HELLO_FIXED_BYTES);
  return out;
}

/** Throws ProtocolError 'BAD_PAYLOAD' on a payload that is not a PeerHello. */
export function decodePeerHello(payload: Buffer): PeerHello {
  const bad = (): Error =>
    protocolError('BAD_PAYLOAD', `PeerHello payload of ${payload.length} bytes is malformed`);
  if (payload.length < PEER_HELLO_FIXED_BYTES) throw bad();
  const length = payload.readUInt8(PEER_HELLO_FIXED_BYTES - 1);
  if (length > MAX_JOB_ID_BYTES || payload.length !== PEER_HELLO_FIXED_BYTES + length) throw bad();
  return {
    version: payload.readUInt16BE(0),
    hasToken: (payload.readUInt8(2) & FLAG_TOKEN) !== 0,
    dialer: payload.readUInt32BE(3),
    acceptor: payload.readUInt32BE(7),
    size: payload.readUInt32BE(11),
    nonce: Buffer.from(payload.subarray(15, 15 + NONCE_BYTES)),
    jobId: length === 0 ? null : payload.toString('utf8', PEER_HELLO_FIXED_BYTES),
  };
}

export type PeerRole = 'peer-dialer' | 'peer-acceptor';

/** What a peer proof is bound to: both nonces, both ranks and the group size. */
export interface PeerIds {
  dialerNonce: Buffer;
  acceptorNonce: Buffer;
  dialer: number;
  acceptor: number;
  size: number;
}

/** HMAC-SHA256(token, "collective-tcp/<role>" ‖ dialer nonce ‖ acceptor nonce ‖ u32 dialer ‖ u32 acceptor ‖ u32 size). */
export function peerProof(token: string, role: PeerRole, ids: PeerIds): Buffer {
  const ranks = Buffer.alloc(12);
  ranks.writeUInt32BE(ids.dialer >>> 0, 0);
  ranks.writeUInt32BE(ids.acceptor >>> 0, 4);
  ranks.writeUInt32BE(ids.size >>> 0, 8);
  return createHmac('sha256', token)
    .update(`collective-tcp/${role}`)
    .update(ids.dialerNonce)
    .update(ids.acceptorNonce)
    .update(ranks)
    .digest();
}

/** What the acceptor expects of a PeerHello. */
export interface PeerExpectation {
  rank: number;
  size: number;
  hasToken: boolean;
  jobId: string | null;
  /** Ranks that may still dial this one (higher ranks not yet linked). */
  awaited: ReadonlySet<number>;
}

/** What the acceptor checks before any authentication; null when acceptable. */
export function checkPeerHello(
  hello: PeerHello,
  expected: PeerExpectation,
): { reason: RejectReasonCode; message: string } | null {
  if (hello.version !== PROTOCOL_VERSION) {
    return {
      reason: RejectReason.BadVersion,
      message: `protocol version ${hello.version}, rank ${expected.rank} speaks ${PROTOCOL_VERSION}: run the same collective version on every rank`,
    };
  }
  if (hello.jobId !== expected.jobId) {
    return {
      reason: RejectReason.JobMismatch,
      message: jobMismatchMessage(hello.dialer, hello.jobId, expected.jobId),
    };
  }
  if (hello.size !== expected.size) {
    return {
      reason: RejectReason.WrongSize,
      message: `size ${hello.size}, but rank ${expected.rank} is in a group of ${expected.size}`,
    };
  }
  if (hello.acceptor !== expected.rank) {
    return {
      reason: RejectReason.RankOutOfRange,
      message: `a link meant for rank ${hello.acceptor} reached rank ${expected.rank}`,
    };
  }
  if (!expected.awaited.has(hello.dialer)) {
    const why =
      hello.dialer > expected.rank && hello.dialer < expected.size
        ? 'is already linked'
        : 'does not dial this rank';
    return {
      reason: RejectReason.DuplicateRank,
      message: `rank ${hello.dialer} ${why} (rank ${expected.rank})`,
    };
  }
  if (hello.hasToken !== expected.hasToken) {
    return {
      reason: RejectReason.TokenMode,
      message:
        'one side of the link has a token and the other none: set the same COLLECTIVE_TCP_TOKEN on every rank',
    };
  }
  return null;
}
