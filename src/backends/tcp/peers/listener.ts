/**
 * A worker's direct-link listener (spec/backend-tcp.md §14.2): it listens on an ephemeral port of
 * the address the worker reaches rank 0 from, and admits each higher rank of the group exactly once
 * through the peer handshake. Hostile connections are handled as at rank 0's port (§3.5): a bounded
 * table of connections still in the handshake with a deadline each (PendingHandshakes), small frames
 * only before authentication, a Reject that says why, warnings that summarise floods. Once every
 * awaited rank has linked, the listener closes: later connections are refused by the kernel.
 */
import { createServer, type Server } from 'node:net';
import { BackendError } from '../../../communicator/errors.js';
import { formatHostPort } from '../../../communicator/host-address.js';
import { Connection } from '../../star/connection.js';
import {
  encodeChallenge,
  encodeReject,
  newNonce,
  proofMatches,
  RejectReason,
  type RejectReasonCode,
} from '../../star/handshake.js';
import { PendingHandshakes } from '../../star/pending.js';
import { MAX_FRAME_PAYLOAD, Tag, tagName, protocolError } from '../../star/protocol.js';
import { NetListener } from '../net-link.js';
import type { TcpSettings } from '../options.js';
import { checkPeerHello, decodePeerHello, peerProof, type PeerHello, type PeerIds } from './handshake.js';

/** Called once per admitted rank, before its Ack leaves: the connection's handlers are the caller's from then on. */
export type OnPeerLink = (rank: number, connection: Connection) => void;

export class PeerListener {
  readonly #s: TcpSettings;
  readonly #net: NetListener;
  readonly #pending: PendingHandshakes;
  /** Higher ranks that have not linked yet. */
  readonly #awaited: Set<number>;
  readonly #onLink: OnPeerLink;
  #closed = false;

  private constructor(settings: TcpSettings, net: NetListener, onLink: OnPeerLink) {
    this.#s = settings;
    this.#net = net;
    this.#onLink = onLink;
    this.#awaited = new Set(
      Array.from({ length: settings.size - settings.rank - 1 }, (_, i) => settings.rank + 1 + i),
    );
    this.#pending = new PendingHandshakes(
      settings.connectTimeoutMs,
      settings.warn,
      settings.maxPendingHandshakes,
      'tcp',
      settings.rank,
    );
    net.onLink = (link) => this.#admit(new Connection(link));
    // The listener never keeps the process alive: formation waits on rank 0's link and the dials.
    net.unref();
  }

  /**
   * Listens on host:0. Rejects with BackendError 'InitializationFailed' when the address cannot be
   * bound (it is not an address of this machine).
   */
  static async open(settings: TcpSettings, host: string, onLink: OnPeerLink): Promise<PeerListener> {
    const server: Server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new BackendError(
            'InitializationFailed',
            `tcp rank ${settings.rank}: cannot listen for direct links on ${formatHostPort(host, 0)} (${error.code ?? error.message})`,
            { rank: settings.rank, address: host, errno: error.code },
            "check this host's network setup, or set COLLECTIVE_TCP_ALGORITHM=star to route every collective through rank 0",
          ),
        ),
      );
      server.listen({ host, port: 0 }, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const net = new NetListener(
      server,
      host,
      port,
      settings.warn,
      undefined,
      `tcp rank ${settings.rank} (direct links)`,
    );
    return new PeerListener(settings, net, onLink);
  }

  get host(): string {
    return this.#net.host;
  }

  get port(): number {
    return this.#net.port;
  }

  /** Ranks that have not linked yet (empty once every higher rank has). */
  get awaited(): ReadonlySet<number> {
    return this.#awaited;
  }

  /** Stops listening and drops connections still in the handshake; admitted links are not affected. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#net.close();
    this.#pending.close();
  }

  #admit(connection: Connection): void {
    if (this.#closed) {
      connection.destroy();
      return;
    }
    this.#pending.add(connection);
    const nonce = newNonce();
    let hello: PeerHello | null = null;
    let challenged = false;
    connection.onEnd = (error) => this.#pending.ended(connection, error);
    connection.onFrame = (tag, payload) => {
      if (tag === Tag.PeerHello && hello === null) {
        hello = decodePeerHello(payload);
        const problem = checkPeerHello(hello, {
          rank: this.#s.rank,
          size: this.#s.size,
          hasToken: this.#s.token !== null,
          jobId: this.#s.jobId,
          awaited: this.#awaited,
        });
        if (problem) return this.#refuse(connection, problem.reason, problem.message, hello.dialer);
        if (this.#s.token === null) return this.#link(hello.dialer, connection, Buffer.alloc(0));
        challenged = true;
        connection.send(Tag.Challenge, encodeChallenge(nonce));
        return;
      }
      if (tag === Tag.Auth && challenged && hello !== null && this.#s.token !== null) {
        const ids: PeerIds = {
          dialerNonce: hello.nonce,
          acceptorNonce: nonce,
          dialer: hello.dialer,
          acceptor: this.#s.rank,
          size: this.#s.size,
        };
        if (!proofMatches(peerProof(this.#s.token, 'peer-dialer', ids), payload)) {
          return this.#refuse(
            connection,
            RejectReason.BadToken,
            'the token proof does not match: set the same COLLECTIVE_TCP_TOKEN on every rank',
            hello.dialer,
          );
        }
        if (!this.#awaited.has(hello.dialer)) {
          return this.#refuse(
            connection,
            RejectReason.DuplicateRank,
            `rank ${hello.dialer} is already linked`,
            hello.dialer,
          );
        }
        return this.#link(hello.dialer, connection, peerProof(this.#s.token, 'peer-acceptor', ids));
      }
      throw protocolError('UNEXPECTED_FRAME', `${tagName(tag)} during a direct link's handshake`);
    };
  }

  #refuse(connection: Connection, reason: RejectReasonCode, message: string, claimed: number): void {
    connection.send(Tag.Reject, encodeReject(reason, message));
    this.#pending.refused(
      connection,
      `${reason}:${claimed}`,
      `tcp rank ${this.#s.rank}: refused a direct link from ${connection.link.remoteAddress} (claims rank ${claimed}): ${message}`,
    );
    connection.end();
  }

  #link(rank: number, connection: Connection, ack: Buffer): void {
    this.#awaited.delete(rank);
    this.#pending.settle(connection);
    connection.reader.maxPayload = MAX_FRAME_PAYLOAD;
    connection.onFrame = () => {};
    connection.onEnd = () => {};
    this.#onLink(rank, connection);
    connection.send(Tag.Ack, ack);
    if (this.#awaited.size === 0) this.close();
  }
}
