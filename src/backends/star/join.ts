/**
 * A worker's side of forming the group (spec/backend-tcp.md §3): dial rank 0 (§11), retrying with
 * exponential backoff until the connect timeout (workers may start before rank 0 listens, and rank 0
 * may close a connection still in its handshake when a flood fills its table, §3.5), run the
 * handshake, and wait for Ack — sent when every rank has joined. When it gives up, the error says
 * which of these it met: rank 0 never reachable, closing the connection during the handshake, or
 * closing it and then refusing connections (it has exited).
 */
import { BackendError } from '../../communicator/errors.js';
import { isDialError, type DialError, type Dialer, type Link } from '../link/link.js';
import { Connection } from './connection.js';
import {
  decodeChallenge,
  decodeReject,
  encodeHello,
  JOB_MISMATCH_ADVICE,
  newNonce,
  proof,
  proofMatches,
  RejectReason,
  type JoinIds,
} from './handshake.js';
import { MAX_FRAME_PAYLOAD, PROTOCOL_VERSION, ProtocolError, Tag, tagName } from './protocol.js';
import { backendOf, type StarSettings } from './settings.js';

const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 500;
/** The least time a handshake attempt waits for rank 0, even past the connect deadline (ms). */
const LAST_ATTEMPT_GRACE_MS = 500;

/** Where a worker joins: rank 0 as messages name it (`host:port`, a URL) and how to reach it. */
export interface JoinTarget {
  readonly address: string;
  readonly dial: Dialer;
  /** What to check when rank 0 stays unreachable; default the tcp advice (start rank 0, MASTER_ADDR/MASTER_PORT). */
  readonly unreachableAdvice?: string;
}

const TCP_UNREACHABLE_ADVICE =
  'start rank 0 (it listens and reports its port), check MASTER_ADDR/MASTER_PORT, or raise the connect timeout';

/**
 * A dial error as messages quote it: its code, and its message too when that says more than the code
 * (a browser's WS_CONNECT_FAILED carries the only hint there is — the URL and the origin check).
 */
function dialReason(error: DialError): string {
  if (error.code === undefined) return error.message;
  return error.message.includes(error.code) ? error.code : `${error.code}: ${error.message}`;
}

/** The settings and the target: everything the worker's side of formation reads. */
type Joining = StarSettings & { readonly target: JoinTarget };

function initFailed(
  s: Joining,
  message: string,
  context: Record<string, unknown>,
  suggestion: string,
): BackendError {
  return new BackendError(
    'InitializationFailed',
    `${backendOf(s)} rank ${s.rank}: ${message}`,
    { address: s.target.address, rank: s.rank, ...context },
    suggestion,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Delays between connect attempts: FIRST_RETRY_MS, doubling up to MAX_RETRY_MS. */
class Backoff {
  #wait = FIRST_RETRY_MS;

  async pause(deadline: number): Promise<void> {
    await delay(Math.min(this.#wait, Math.max(0, deadline - Date.now())));
    this.#wait = Math.min(this.#wait * 2, MAX_RETRY_MS);
  }
}

/** After `closes` closes during the handshake, rank 0 stopped answering: it has (most likely) exited. */
function goneAfterClose(s: Joining, closes: number, error: DialError): BackendError {
  const errno = dialReason(error);
  const times = closes === 1 ? '' : ` (${closes} times)`;
  const then = error.failure === 'refused' ? 'refused new connections' : 'could not be reached';
  return initFailed(
    s,
    `rank 0 at ${s.target.address} closed the connection during the handshake${times} and then ${then} (${errno}) until the connect timeout: it has probably exited (crashed or was killed) or stopped listening`,
    // Not `errno`: selection rewords errors with an errno as "nothing listens there" (never reached).
    { closedDuringHandshake: true, closes, errnoAfterClose: error.code },
    "look at rank 0's output for why it ended, then restart the job",
  );
}

/** Rank 0 still accepts connections but closed each of ours during the handshake. */
function closedEachTime(s: Joining, closes: number, last: Error | null): BackendError {
  return initFailed(
    s,
    `rank 0 at ${s.target.address} closed the connection ${closes} time${closes === 1 ? '' : 's'} during the handshake; it may be overloaded by other connections or may have exited${last ? ` (last: ${last.message})` : ''}`,
    { closedDuringHandshake: true, closes },
    "if rank 0 warns of a connection flood, stop the processes it names or give the job its own port; otherwise look at rank 0's output, or raise the connect timeout",
  );
}

/**
 * One dial, given up once the connect deadline has passed (an attempt made at the very end still
 * gets LAST_ATTEMPT_GRACE_MS): a peer that accepts the connection and never answers — an upgrade
 * that never completes, a page's WebSocket that stays CONNECTING (it has no timeout of its own), a
 * silent proxy — must not hold a worker past its connect timeout (§3.5). The attempt is then
 * aborted (the transport closes its socket, which would otherwise keep the process alive), and a
 * link that still arrives is destroyed.
 */
async function dialBefore(s: Joining, deadline: number): Promise<Link | DialError> {
  const waitMs = Math.max(LAST_ATTEMPT_GRACE_MS, deadline - Date.now());
  let timer: ReturnType<typeof setTimeout> | undefined;
  let gaveUp = false;
  const abort = new AbortController();
  const attempt = s.target.dial(abort.signal).then((result) => {
    if (gaveUp && !isDialError(result)) result.destroy();
    return result;
  });
  const expiry = new Promise<DialError>((resolve) => {
    timer = setTimeout(() => {
      gaveUp = true;
      abort.abort();
      resolve({
        failure: 'other',
        code: 'ETIMEDOUT',
        message: `no answer from ${s.target.address} within ${waitMs} ms (it accepted the connection, or never refused it, but did not complete it)`,
      });
    }, waitMs);
  });
  try {
    return await Promise.race([attempt, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

async function connectWithBackoff(s: Joining, deadline: number, closes: number): Promise<Link> {
  const backoff = new Backoff();
  for (;;) {
    const result = await dialBefore(s, deadline);
    if (!isDialError(result)) return result;
    if (deadline - Date.now() <= 0) {
      if (closes > 0) throw goneAfterClose(s, closes, result);
      throw initFailed(
        s,
        `rank 0 unreachable at ${s.target.address} after ${s.connectTimeoutMs / 1000} s (${dialReason(result)})`,
        { errno: result.code },
        s.target.unreachableAdvice ?? TCP_UNREACHABLE_ADVICE,
      );
    }
    await backoff.pause(deadline);
  }
}

/**
 * Dials `target` and joins; once the whole group is formed, `adopt` takes the connection over — inside
 * the Ack handler, so frames rank 0 sends right after Ack reach the adopter's handlers. A connection
 * rank 0 closes during the handshake is retried until the connect timeout (§3.5).
 */
export async function joinGroup<T>(
  settings: StarSettings,
  target: JoinTarget,
  adopt: (connection: Connection) => T,
): Promise<T> {
  const s: Joining = { ...settings, target };
  const deadline = Date.now() + s.connectTimeoutMs;
  const backoff = new Backoff();
  let closes = 0;
  for (;;) {
    const link = await connectWithBackoff(s, deadline, closes);
    const outcome = await handshake(s, new Connection(link), adopt, deadline);
    if (outcome.joined) return outcome.value;
    closes++;
    if (deadline - Date.now() <= 0) {
      // One last look tells a rank 0 that exited (refused) from one that closes each connection.
      const probe = await dialBefore(s, deadline);
      if (isDialError(probe)) throw goneAfterClose(s, closes, probe);
      probe.destroy();
      throw closedEachTime(s, closes, outcome.error);
    }
    await backoff.pause(deadline);
  }
}

type Outcome<T> = { joined: true; value: T } | { joined: false; error: Error | null };

/**
 * One handshake on a fresh connection: joined (adopted), or closed by rank 0 before Ack (to be
 * retried). Everything else — a Reject, a coordinator without the token, no Ack in time, a frame
 * out of place — rejects with a final BackendError.
 */
function handshake<T>(
  s: Joining,
  connection: Connection,
  adopt: (connection: Connection) => T,
  deadline: number,
): Promise<Outcome<T>> {
  const workerNonce = newNonce();
  return new Promise<Outcome<T>>((resolve, reject) => {
    let join: JoinIds | null = null;
    const settle = (): void => {
      connection.onEnd = () => {};
      connection.onFrame = () => {};
      clearTimeout(timer);
    };
    const fail = (error: BackendError): void => {
      settle();
      connection.destroy();
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
      // The connect timeout counts from the start, retries included (§3.5); an attempt made at the
      // very end still gets LAST_ATTEMPT_GRACE_MS to see rank 0's answer or close.
      Math.max(LAST_ATTEMPT_GRACE_MS, deadline - Date.now()),
    );
    connection.onEnd = (error) => {
      if (error instanceof ProtocolError) {
        return fail(
          initFailed(
            s,
            `rank 0 at ${s.target.address} sent a malformed handshake frame (${error.message})`,
            { protocolError: error.code },
            'check the address points at a collective rank 0 of the same version',
          ),
        );
      }
      settle();
      resolve({ joined: false, error });
    };
    connection.onFrame = (tag, payload) => {
      if (tag === Tag.Reject) {
        const { reason, message } = decodeReject(payload);
        if (reason === RejectReason.JobMismatch) {
          return fail(
            initFailed(
              s,
              `rank 0 at ${s.target.address} belongs to another job: ${message}`,
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
      if (tag === Tag.Challenge && s.token !== null && join === null) {
        // We prove first (§3.1); rank 0 proves itself in Ack, which we check before adopting.
        join = { workerNonce, coordinatorNonce: decodeChallenge(payload), rank: s.rank, size: s.size };
        connection.send(Tag.Auth, proof(s.token, 'worker', join));
        return;
      }
      if (tag === Tag.Ack && (s.token === null ? payload.length === 0 : join !== null)) {
        if (
          s.token !== null &&
          join !== null &&
          !proofMatches(proof(s.token, 'coordinator', join), payload)
        ) {
          return fail(
            initFailed(
              s,
              'the coordinator failed the token challenge',
              {},
              'set the same COLLECTIVE_TCP_TOKEN on every rank; check the address reaches the right rank 0',
            ),
          );
        }
        settle();
        connection.reader.maxPayload = MAX_FRAME_PAYLOAD;
        resolve({ joined: true, value: adopt(connection) });
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
        nonce: workerNonce,
        jobId: s.jobId,
      }),
    );
  });
}
