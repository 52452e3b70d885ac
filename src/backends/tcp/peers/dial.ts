/**
 * The dialing side of a direct link (spec/backend-tcp.md §14.2): the higher rank connects to the
 * lower one's peer listener, retrying a refused connect with backoff until the deadline, and runs
 * the peer handshake. Every failure is a BackendError 'InitializationFailed' that names both ranks
 * and the address, and says what to check.
 */
import { BackendError } from '../../../communicator/errors.js';
import { formatHostPort } from '../../../communicator/host-address.js';
import { isDialError, type DialError, type Dialer, type Link } from '../../link/link.js';
import { Connection } from '../../star/connection.js';
import { decodeChallenge, decodeReject, newNonce, proofMatches } from '../../star/handshake.js';
import { MAX_FRAME_PAYLOAD, PROTOCOL_VERSION, ProtocolError, Tag, tagName } from '../../star/protocol.js';
import { netDialer } from '../net-link.js';
import type { TcpSettings } from '../options.js';
import { encodePeerHello, JOB_MISMATCH_ADVICE, peerProof, type PeerIds } from './handshake.js';

const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 250;
/**
 * Connect errors that say the address cannot be reached from here (a route prohibits it, no route,
 * a firewall's refusal): final at once. The peer's listener opened before the addresses were
 * exchanged, so nothing is gained by waiting for it, unlike a worker dialing rank 0 (§3.5).
 */
const UNREACHABLE = new Set(['EACCES', 'EPERM', 'EHOSTUNREACH', 'ENETUNREACH']);

const ADVICE =
  "check that the ranks can reach each other's addresses (firewalls, routes), or set COLLECTIVE_TCP_ALGORITHM=star to route every collective through rank 0";

function linkFailed(
  s: TcpSettings,
  peer: number,
  address: string,
  why: string,
  context: Record<string, unknown> = {},
  suggestion = ADVICE,
): BackendError {
  return new BackendError(
    'InitializationFailed',
    `tcp rank ${s.rank}: cannot open its direct link to rank ${peer} at ${address}: ${why}`,
    { rank: s.rank, peer, address, ...context },
    suggestion,
  );
}

/**
 * One dial that settles when `signal` aborts, too: an aborted connect closes its socket without an
 * 'error' or 'connect' event, so the dialer's own promise would never settle. A link that still
 * arrives after the abort is closed.
 */
function attempt(dial: Dialer, signal: AbortSignal): Promise<Link | DialError> {
  return new Promise((resolve) => {
    const aborted = (): void =>
      resolve({
        failure: 'other',
        code: 'ETIMEDOUT',
        message: 'the connect was given up (deadline, or the group failed)',
      });
    if (signal.aborted) return aborted();
    signal.addEventListener('abort', aborted, { once: true });
    void dial(signal).then((result) => {
      signal.removeEventListener('abort', aborted);
      if (signal.aborted && !isDialError(result)) result.destroy();
      resolve(result);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Connects to rank `peer`'s listener at host:port and runs the handshake. `adopt` takes the
 * connection over inside the Ack handler, so no frame that follows the Ack can be missed.
 */
export async function dialPeer(
  s: TcpSettings,
  peer: number,
  host: string,
  port: number,
  deadline: number,
  adopt: (connection: Connection) => void,
  /** Aborted: the group failed meanwhile; the dial stops (rejecting) and closes what it opened. */
  stop?: AbortSignal,
): Promise<void> {
  const address = formatHostPort(host, port);
  const dial = netDialer(host, port);
  let wait = FIRST_RETRY_MS;
  let link: Link | null = null;
  while (link === null) {
    if (stop?.aborted) throw linkFailed(s, peer, address, 'the group failed while dialing');
    const abort = new AbortController();
    const onStop = (): void => abort.abort();
    stop?.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => abort.abort(), Math.max(1, deadline - Date.now()));
    const result = await attempt(dial, abort.signal);
    clearTimeout(timer);
    stop?.removeEventListener('abort', onStop);
    if (!isDialError(result)) {
      link = result;
      break;
    }
    if (stop?.aborted) throw linkFailed(s, peer, address, 'the group failed while dialing');
    const final = result.failure === 'unresolved' || UNREACHABLE.has(result.code ?? '');
    if (abort.signal.aborted || Date.now() + wait >= deadline || final) {
      throw linkFailed(s, peer, address, `${result.code ?? result.message}`, { errno: result.code });
    }
    await delay(wait);
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
  if (stop?.aborted) {
    link.destroy();
    throw linkFailed(s, peer, address, 'the group failed while dialing');
  }
  return handshake(s, peer, address, new Connection(link), deadline, adopt, stop);
}

function handshake(
  s: TcpSettings,
  peer: number,
  address: string,
  connection: Connection,
  deadline: number,
  adopt: (connection: Connection) => void,
  stop: AbortSignal | undefined,
): Promise<void> {
  const nonce = newNonce();
  return new Promise<void>((resolve, reject) => {
    let ids: PeerIds | null = null;
    const onStop = (): void => fail(linkFailed(s, peer, address, 'the group failed during the handshake'));
    stop?.addEventListener('abort', onStop, { once: true });
    const fail = (error: BackendError): void => {
      stop?.removeEventListener('abort', onStop);
      clearTimeout(timer);
      connection.onEnd = () => {};
      connection.onFrame = () => {};
      connection.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(linkFailed(s, peer, address, 'the handshake did not complete before the connect timeout')),
      Math.max(1, deadline - Date.now()),
    );
    connection.onEnd = (error) =>
      fail(
        linkFailed(
          s,
          peer,
          address,
          error instanceof ProtocolError
            ? `it sent a malformed handshake frame (${error.message})`
            : `the connection closed during the handshake${error ? ` (${error.message})` : ''}`,
        ),
      );
    connection.onFrame = (tag, payload) => {
      if (tag === Tag.Reject) {
        const { reason, message } = decodeReject(payload);
        return fail(
          linkFailed(
            s,
            peer,
            address,
            `rank ${peer} refused it: ${message}`,
            { rejectReason: reason },
            reason === 10 ? JOB_MISMATCH_ADVICE : 'fix the setting the reason names',
          ),
        );
      }
      if (tag === Tag.Challenge && s.token !== null && ids === null) {
        ids = {
          dialerNonce: nonce,
          acceptorNonce: decodeChallenge(payload),
          dialer: s.rank,
          acceptor: peer,
          size: s.size,
        };
        connection.send(Tag.Auth, peerProof(s.token, 'peer-dialer', ids));
        return;
      }
      if (tag === Tag.Ack && (s.token === null ? payload.length === 0 : ids !== null)) {
        if (
          s.token !== null &&
          ids !== null &&
          !proofMatches(peerProof(s.token, 'peer-acceptor', ids), payload)
        ) {
          return fail(
            linkFailed(
              s,
              peer,
              address,
              `the listener failed the token challenge: it is not rank ${peer} of this job`,
              {},
              'set the same COLLECTIVE_TCP_TOKEN on every rank',
            ),
          );
        }
        clearTimeout(timer);
        stop?.removeEventListener('abort', onStop);
        connection.onEnd = () => {};
        connection.onFrame = () => {};
        connection.reader.maxPayload = MAX_FRAME_PAYLOAD;
        adopt(connection);
        resolve();
        return;
      }
      fail(linkFailed(s, peer, address, `unexpected ${tagName(tag)} frame during the handshake`));
    };
    connection.send(
      Tag.PeerHello,
      encodePeerHello({
        version: PROTOCOL_VERSION,
        hasToken: s.token !== null,
        dialer: s.rank,
        acceptor: peer,
        size: s.size,
        nonce,
        jobId: s.jobId,
      }),
    );
  });
}
