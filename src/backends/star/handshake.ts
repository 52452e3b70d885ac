/**
 * The handshake (spec/backend-tcp.md §3): rank, size and protocol version, then — when a token is
 * configured — an HMAC-SHA256 challenge–response in both directions, so the token never crosses the
 * wire and a worker also knows it reached a coordinator that holds the token. The worker proves
 * first: rank 0 sends nothing keyed by the token to a peer that has not proved it (§3.6), so a
 * connecting party gets no material for an offline guess of the token.
 *
 *   worker → Handshake(version, flags, rank, size, worker nonce, job id)
 *   rank 0 → Reject(reason, text)                          (bad version/job/size/rank/token mode)
 *          | Challenge(coordinator nonce)                  (token set)
 *   worker → Auth(HMAC(token, "worker" ‖ worker nonce ‖ coordinator nonce ‖ rank ‖ size))
 *   rank 0 → Reject(BadToken | DuplicateRank | …)
 *          | Ack(HMAC(token, "coordinator" ‖ worker nonce ‖ coordinator nonce ‖ rank ‖ size))
 *            — sent when the whole group has joined; empty without a token
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { protocolError, PROTOCOL_VERSION } from './protocol.js';
import { MAX_JOB_ID_BYTES } from '../../communicator/job-id.js';

export { MAX_JOB_ID_BYTES };

export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Version 1's whole Handshake; version 2 appends u8 job id length L and L bytes of UTF-8 job id. */
export const HANDSHAKE_FIXED_BYTES = 2 + 1 + 4 + 4 + NONCE_BYTES;
const FLAG_TOKEN = 0x01;

export interface HandshakeHello {
  version: number;
  hasToken: boolean;
  rank: number;
  size: number;
  nonce: Buffer;
  /** The launcher's job identity (spec §3.2); null when the rank has none. */
  jobId: string | null;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

export function encodeHello(hello: HandshakeHello): Buffer {
  const job = Buffer.from(hello.jobId ?? '', 'utf8');
  if (job.length > MAX_JOB_ID_BYTES) throw new RangeError(`job id of ${job.length} bytes`);
  const out = Buffer.alloc(HANDSHAKE_FIXED_BYTES + 1 + job.length);
  out.writeUInt16BE(hello.version, 0);
  out.writeUInt8(hello.hasToken ? FLAG_TOKEN : 0, 2);
  out.writeUInt32BE(hello.rank >>> 0, 3);
  out.writeUInt32BE(hello.size >>> 0, 7);
  hello.nonce.copy(out, 11);
  out.writeUInt8(job.length, HANDSHAKE_FIXED_BYTES);
  job.copy(out, HANDSHAKE_FIXED_BYTES + 1);
  return out;
}

/**
 * A Handshake of another version decodes as far as its fixed part (version 1's layout), so rank 0
 * can answer it with BadVersion instead of dropping the connection.
 */
export function decodeHello(payload: Buffer): HandshakeHello {
  const bad = (): Error =>
    protocolError('BAD_PAYLOAD', `Handshake payload of ${payload.length} bytes is malformed`);
  if (payload.length < HANDSHAKE_FIXED_BYTES) throw bad();
  const version = payload.readUInt16BE(0);
  let jobId: string | null = null;
  if (version === PROTOCOL_VERSION) {
    if (payload.length < HANDSHAKE_FIXED_BYTES + 1) throw bad();
    const length = payload.readUInt8(HANDSHAKE_FIXED_BYTES);
    if (length > MAX_JOB_ID_BYTES || payload.length !== HANDSHAKE_FIXED_BYTES + 1 + length) throw bad();
    jobId = length === 0 ? null : payload.toString('utf8', HANDSHAKE_FIXED_BYTES + 1);
  }
  return {
    version,
    hasToken: (payload.readUInt8(2) & FLAG_TOKEN) !== 0,
    rank: payload.readUInt32BE(3),
    size: payload.readUInt32BE(7),
    nonce: Buffer.from(payload.subarray(11, HANDSHAKE_FIXED_BYTES)),
    jobId,
  };
}

export type Role = 'coordinator' | 'worker';

/** What a proof is bound to: this connection's two nonces and the rank and size it joins as. */
export interface JoinIds {
  workerNonce: Buffer;
  coordinatorNonce: Buffer;
  rank: number;
  size: number;
}

/**
 * HMAC-SHA256(token, "collective-tcp/<role>" ‖ worker nonce ‖ coordinator nonce ‖ u32 rank ‖ u32 size):
 * binds the proof to this join; the role keeps one side's proof from serving as the other's.
 */
export function proof(token: string, role: Role, join: JoinIds): Buffer {
  const ids = Buffer.alloc(8);
  ids.writeUInt32BE(join.rank >>> 0, 0);
  ids.writeUInt32BE(join.size >>> 0, 4);
  return createHmac('sha256', token)
    .update(`collective-tcp/${role}`)
    .update(join.workerNonce)
    .update(join.coordinatorNonce)
    .update(ids)
    .digest();
}

export function proofMatches(expected: Buffer, received: Buffer): boolean {
  return received.length === expected.length && timingSafeEqual(expected, received);
}

/** Challenge: the coordinator's nonce and nothing else (no proof before the worker's, §3.1). */
export function encodeChallenge(nonce: Buffer): Buffer {
  return Buffer.from(nonce);
}

export function decodeChallenge(payload: Buffer): Buffer {
  if (payload.length !== NONCE_BYTES) {
    throw protocolError(
      'BAD_PAYLOAD',
      `Challenge payload is ${payload.length} bytes, expected ${NONCE_BYTES}`,
    );
  }
  return Buffer.from(payload);
}

/** Why rank 0 turned a connection away; the code travels in Reject so the worker can say why. */
export const RejectReason = {
  BadVersion: 1,
  WrongSize: 2,
  RankOutOfRange: 3,
  DuplicateRank: 4,
  BadToken: 5,
  TokenMode: 6,
  GroupComplete: 7,
  GroupNotFormed: 8,
  Malformed: 9,
  JobMismatch: 10,
} as const;
export type RejectReasonCode = (typeof RejectReason)[keyof typeof RejectReason];

/**
 * A Reject's message is cut to this many UTF-16 code units (at most 3 UTF-8 bytes each), so a Reject
 * fits the handshake frame limit (MAX_HANDSHAKE_PAYLOAD) with room for two job ids.
 */
export const REJECT_MESSAGE_MAX_UNITS = 340;

export function encodeReject(reason: RejectReasonCode, message: string): Buffer {
  return Buffer.concat([
    Buffer.from([reason]),
    Buffer.from(message.slice(0, REJECT_MESSAGE_MAX_UNITS), 'utf8'),
  ]);
}

export function decodeReject(payload: Buffer): { reason: number; message: string } {
  if (payload.length < 1) throw protocolError('BAD_PAYLOAD', 'Reject payload is empty');
  return { reason: payload.readUInt8(0), message: payload.toString('utf8', 1) };
}

function jobName(jobId: string | null): string {
  return jobId === null ? 'no job id' : `job "${jobId}"`;
}

/** What to do when two jobs meet at one coordinator: said once, by whoever reports the refusal. */
export const JOB_MISMATCH_ADVICE =
  'give each job its own COLLECTIVE_TCP_PORT, or set the same COLLECTIVE_JOB_ID on every rank of one job';

/** What rank 0 answers a rank of another job (or of none, when rank 0 has one: a mismatch too). */
export function jobMismatchMessage(rank: number, theirs: string | null, ours: string | null): string {
  return `rank ${rank} of ${jobName(theirs)} reached rank 0 of ${jobName(ours)}: two jobs share one coordinator address`;
}

/** What rank 0 checks in a Handshake before any authentication; null when acceptable. */
export function checkHello(
  hello: HandshakeHello,
  expected: { size: number; hasToken: boolean; jobId: string | null },
): { reason: RejectReasonCode; message: string } | null {
  if (hello.version !== PROTOCOL_VERSION) {
    return {
      reason: RejectReason.BadVersion,
      message: `protocol version ${hello.version}, rank 0 speaks ${PROTOCOL_VERSION}: run the same collective version on every rank`,
    };
  }
  // Before size and rank: a rank of another job is the cause, whatever else differs.
  if (hello.jobId !== expected.jobId) {
    return {
      reason: RejectReason.JobMismatch,
      message: jobMismatchMessage(hello.rank, hello.jobId, expected.jobId),
    };
  }
  if (hello.size !== expected.size) {
    return {
      reason: RejectReason.WrongSize,
      message: `size ${hello.size}, but rank 0 forms a group of ${expected.size}: give every rank the same WORLD_SIZE`,
    };
  }
  if (hello.rank < 1 || hello.rank >= expected.size) {
    return {
      reason: RejectReason.RankOutOfRange,
      message: `rank ${hello.rank} is outside 1..${expected.size - 1} (rank 0 is the coordinator)`,
    };
  }
  if (hello.hasToken !== expected.hasToken) {
    return {
      reason: RejectReason.TokenMode,
      message: expected.hasToken
        ? 'rank 0 requires a token: set the same COLLECTIVE_TCP_TOKEN on every rank'
        : `rank ${hello.rank} has a token but rank 0 has none: set the same COLLECTIVE_TCP_TOKEN on every rank`,
    };
  }
  return null;
}
