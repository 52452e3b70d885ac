/**
 * A worker's side of forming the group (spec/backend-tcp.md §3): connect to rank 0, retrying with
 * exponential backoff until the connect timeout (workers may start before rank 0 listens), run the
 * handshake, and wait for Ack — sent when every rank has joined.
 */
import { connect, type Socket } from 'node:net';
import { BackendError } from '../../communicator/errors.js';
import { formatHostPort } from '../../communicator/host-address.js';
import { Connection, StaticReads } from './connection.js';
import {
  decodeChallenge,
  decodeReject,
  encodeHello,
  JOB_MISMATCH_ADVICE,
  newNonce,
  proof,
  proofMatches,
  RejectReason,
} from './handshake.js';
import type { TcpSettings } from './options.js';
import { MAX_FRAME_PAYLOAD, PROTOCOL_VERSION, Tag, tagName } from './protocol.js';

const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 500;

function initFailed(
  s: TcpSettings,
  message: string,
  context: Record<string, unknown>,
  suggestion: string,
): BackendError {
  return new BackendError(
    'InitializationFailed',
    `tcp rank ${s.rank}: ${message}`,
    { address: formatHostPort(s.host, s.port), rank: s.rank, ...context },
    suggestion,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One connect attempt: the socket once connected, or the errno that refused it. */
function attempt(host: string, port: number, reads: StaticReads): Promise<Socket | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, onread: reads.options });
    const onError = (error: NodeJS.ErrnoException): void => {
      socket.destroy();
      resolve(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

async function connectWithBackoff(s: TcpSettings, reads: StaticReads): Promise<Socket> {
  const deadline = Date.now() + s.connectTimeoutMs;
  let wait = FIRST_RETRY_MS;
  for (;;) {
    const result = await attempt(s.host, s.port, reads);
    if (!(result instanceof Error)) return result;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw initFailed(
        s,
        `rank 0 unreachable at ${formatHostPort(s.host, s.port)} after ${s.connectTimeoutMs / 1000} s (${result.code ?? result.message})`,
        { errno: result.code },
        'start rank 0 (it listens and reports its port), check MASTER_ADDR/MASTER_PORT, or raise the connect timeout',
      );
    }
    await delay(Math.min(wait, left));
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}

/**
 * Connects and joins; once the whole group is formed, `adopt` takes the connection over — inside
 * the Ack handler, so frames rank 0 sends right after Ack reach the adopter's handlers.
 */
export async function joinGroup<T>(s: TcpSettings, adopt: (connection: Connection) => T): Promise<T> {
  // A worker's frames are consumed as they arrive (results go straight into the caller's arrays,
  // control frames are decoded at once), so its socket can read into one reused buffer.
  const reads = new StaticReads();
  const socket = await connectWithBackoff(s, reads);
  const connection = new Connection(socket, reads);
  const nonce = newNonce();
  return new Promise<T>((resolve, reject) => {
    let authenticated = s.token === null;
    const fail = (error: BackendError): void => {
      connection.onEnd = () => {};
      connection.destroy();
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          initFailed(
            s,
            `the group was not formed within ${s.connectTimeoutMs / 1000} s of joining`,
            {},
            'check that every rank was started',
          ),
        ),
      s.connectTimeoutMs,
    );
    connection.onEnd = (error) =>
      fail(
        initFailed(
          s,
          `rank 0 closed the connection during the handshake${error ? ` (${error.message})` : ''}`,
          { closedDuringHandshake: true },
          'check that rank 0 runs the same collective version and group size',
        ),
      );
    connection.onFrame = (tag, payload) => {
      if (tag === Tag.Reject) {
        const { reason, message } = decodeReject(payload);
        if (reason === RejectReason.JobMismatch) {
          return fail(
            initFailed(
              s,
              `rank 0 at ${formatHostPort(s.host, s.port)} belongs to another job: ${message}`,
              { reason: message, rejectReason: reason, jobId: s.jobId },
              JOB_MISMATCH_ADVICE,
            ),
          );
        }
        return fail(
          initFailed(
            s,
            `rank 0 rejected the handshake: ${message}`,
            { reason: message, rejectReason: reason },
            'fix the setting the reason names',
          ),
        );
      }
      if (tag === Tag.Challenge && s.token !== null && !authenticated) {
        const { nonce: theirs, coordinatorProof } = decodeChallenge(payload);
        if (!proofMatches(proof(s.token, 'coordinator', nonce, s.rank, s.size), coordinatorProof)) {
          return fail(
            initFailed(
              s,
              'the coordinator failed the token challenge',
              {},
              'set the same COLLECTIVE_TCP_TOKEN on every rank; check the address reaches the right rank 0',
            ),
          );
        }
        authenticated = true;
        connection.send(Tag.Auth, proof(s.token, 'worker', theirs, s.rank, s.size));
        return;
      }
      if (tag === Tag.Ack && authenticated) {
        clearTimeout(timer);
        connection.reader.maxPayload = MAX_FRAME_PAYLOAD;
        resolve(adopt(connection));
        return;
      }
      fail(
        initFailed(
          s,
          `unexpected ${tagName(tag)} frame from rank 0 during the handshake`,
          {},
          'check the address points at a collective rank 0',
        ),
      );
    };
    connection.send(
      Tag.Handshake,
      encodeHello({
        version: PROTOCOL_VERSION,
        hasToken: s.token !== null,
        rank: s.rank,
        size: s.size,
        nonce,
        jobId: s.jobId,
      }),
    );
  });
}
