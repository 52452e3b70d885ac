/**
 * Rank 0's side of forming the group (spec/backend-tcp.md §3): listen (or adopt a listening server),
 * run the handshake on every connection, and resolve once ranks 1…R-1 have each joined exactly once.
 * A connection that fails the handshake is told why (Reject), logged through the warning hook and
 * closed; the group being formed is not disturbed. After formation, late connections are turned
 * away the same way until close().
 */
import { createServer, type Server, type Socket } from 'node:net';
import { BackendError } from '../../communicator/errors.js';
import { formatHostPort } from '../../communicator/host-address.js';
import { Connection } from './connection.js';
import {
  checkHello,
  JOB_MISMATCH_ADVICE,
  decodeHello,
  encodeChallenge,
  encodeReject,
  newNonce,
  proof,
  proofMatches,
  RejectReason,
  type HandshakeHello,
  type RejectReasonCode,
} from './handshake.js';
import type { TcpSettings } from './options.js';
import { MAX_FRAME_PAYLOAD, Tag, tagName } from './protocol.js';

/** Unauthenticated connections held at once; more are closed on arrival (a flood cannot exhaust us). */
export const MAX_PENDING_HANDSHAKES = 64;

export class Admission {
  readonly #settings: TcpSettings;
  #server: Server | null = null;
  readonly #members: Array<Connection | null>;
  #joined = 0;
  readonly #pending = new Set<Connection>();
  #formed = false;
  #closed = false;
  #deadline: NodeJS.Timeout | null = null;
  #resolve: (members: Connection[]) => void = () => {};
  #reject: (error: Error) => void = () => {};
  readonly formed: Promise<Connection[]>;

  constructor(settings: TcpSettings) {
    this.#settings = settings;
    this.#members = new Array<Connection | null>(settings.size).fill(null);
    this.formed = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The caller may never await `formed` if open() fails; keep that rejection from being unhandled.
    this.formed.catch(() => {});
  }

  /** Listens (or adopts settings.server) and reports the real address; starts the formation clock. */
  async open(): Promise<{ host: string; port: number }> {
    const s = this.#settings;
    const server = s.server ?? createServer();
    this.#server = server;
    server.on('connection', (socket: Socket) => this.#admit(socket));
    if (!s.server) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(
            new BackendError(
              'InitializationFailed',
              `tcp: rank 0 cannot listen on ${formatHostPort(s.bindAddr, s.port)} (${error.code ?? error.message})`,
              { address: s.bindAddr, port: s.port, errno: error.code },
              error.code === 'EADDRINUSE'
                ? `port ${s.port} is taken (by another job's rank 0?): give each job its own COLLECTIVE_TCP_PORT (MASTER_PORT), or port 0 for an ephemeral one`
                : 'check bindAddr: it must be an address of this machine',
            ),
          ),
        );
        server.listen({ host: s.bindAddr, port: s.port }, () => resolve());
      });
    } else if (!server.listening) {
      throw new BackendError(
        'IncompatibleSettings',
        'tcp: the server passed in options.server is not listening',
        { field: 'server' },
        'call server.listen() before passing it, or omit server',
      );
    }
    server.on('error', (error) => s.warn(`tcp rank 0: listening socket error: ${error.message}`));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : s.port;
    const host = typeof address === 'object' && address ? address.address : s.bindAddr;
    if (s.size === 1) this.#complete();
    else {
      this.#deadline = setTimeout(() => this.#giveUp(), s.connectTimeoutMs);
      this.#deadline.unref();
    }
    return { host, port };
  }

  /** Stops listening and drops every connection not yet handed over. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#server?.close();
    for (const c of this.#pending) c.destroy();
    if (!this.#formed) {
      for (const c of this.#members) c?.destroy();
      this.#reject(new BackendError('InitializationFailed', 'tcp: closed before the group was formed'));
    }
  }

  #admit(socket: Socket): void {
    if (this.#closed || this.#pending.size >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    // After formation, a late connection is only turned away: it must not keep rank 0's process alive.
    if (this.#formed) socket.unref();
    const connection = new Connection(socket);
    this.#pending.add(connection);
    const where = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    let hello: HandshakeHello | null = null;
    let coordinatorNonce: Buffer | null = null;
    // A peer that connects and stays silent is dropped when the formation clock would be.
    socket.setTimeout(this.#settings.connectTimeoutMs, () =>
      connection.fail(new Error('no handshake before the connect timeout')),
    );
    const reject = (reason: RejectReasonCode, message: string): void => {
      const advice = reason === RejectReason.JobMismatch ? ` — ${JOB_MISMATCH_ADVICE}` : '';
      this.#settings.warn(`tcp rank 0: rejected a connection from ${where}: ${message}${advice}`);
      connection.send(Tag.Reject, encodeReject(reason, message));
      connection.end();
      connection.onFrame = () => {};
    };
    connection.onEnd = (error) => {
      this.#pending.delete(connection);
      if (error && !this.#closed)
        this.#settings.warn(`tcp rank 0: dropped a connection from ${where}: ${error.message}`);
    };
    connection.onFrame = (tag, payload) => {
      if (tag === Tag.Handshake && hello === null) {
        hello = decodeHello(payload);
        const problem = checkHello(hello, {
          size: this.#settings.size,
          hasToken: this.#settings.token !== null,
          jobId: this.#settings.jobId,
        });
        if (problem) return reject(problem.reason, problem.message);
        if (this.#settings.token === null) return this.#register(connection, hello, reject);
        coordinatorNonce = newNonce();
        const mine = proof(this.#settings.token, 'coordinator', hello.nonce, hello.rank, hello.size);
        connection.send(Tag.Challenge, encodeChallenge(coordinatorNonce, mine));
        return;
      }
      if (tag === Tag.Auth && hello !== null && coordinatorNonce !== null && this.#settings.token !== null) {
        const expected = proof(this.#settings.token, 'worker', coordinatorNonce, hello.rank, hello.size);
        coordinatorNonce = null;
        if (!proofMatches(expected, payload)) {
          return reject(
            RejectReason.BadToken,
            `rank ${hello.rank} failed the token challenge: set the same COLLECTIVE_TCP_TOKEN on every rank`,
          );
        }
        return this.#register(connection, hello, reject);
      }
      reject(RejectReason.Malformed, `unexpected ${tagName(tag)} frame during the handshake`);
    };
  }

  #register(
    connection: Connection,
    hello: HandshakeHello,
    reject: (reason: RejectReasonCode, message: string) => void,
  ): void {
    if (this.#formed)
      return reject(RejectReason.GroupComplete, `the group of ${this.#settings.size} is already complete`);
    if (this.#members[hello.rank]) {
      return reject(
        RejectReason.DuplicateRank,
        `rank ${hello.rank} has already joined: give each process a distinct RANK`,
      );
    }
    this.#pending.delete(connection);
    connection.socket.setTimeout(0);
    connection.onFrame = (tag) =>
      connection.fail(new Error(`rank ${hello.rank} sent ${tagName(tag)} before the group was formed`));
    connection.onEnd = (error) => {
      // A member that leaves before formation frees its slot; the group may still form without a hitch.
      if (this.#members[hello.rank] === connection && !this.#formed) {
        this.#members[hello.rank] = null;
        this.#joined--;
        if (!this.#closed)
          this.#settings.warn(
            `tcp rank 0: rank ${hello.rank} left before the group was formed${error ? `: ${error.message}` : ''}`,
          );
      }
    };
    this.#members[hello.rank] = connection;
    this.#joined++;
    if (this.#joined === this.#settings.size - 1) this.#complete();
  }

  #complete(): void {
    this.#formed = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    // Formed, the listening socket only turns late joiners away: it must not keep the process alive.
    this.#server?.unref();
    const members = this.#members as Connection[];
    for (const member of members.slice(1)) {
      member.reader.maxPayload = MAX_FRAME_PAYLOAD;
      member.send(Tag.Ack);
    }
    this.#resolve(members);
  }

  #giveUp(): void {
    const missing = this.#members.flatMap((c, r) => (r > 0 && !c ? [r] : []));
    const seconds = this.#settings.connectTimeoutMs / 1000;
    const who = `rank${missing.length === 1 ? '' : 's'} ${missing.join(',')}`;
    for (const c of this.#members) {
      if (!c) continue;
      c.send(
        Tag.Reject,
        encodeReject(RejectReason.GroupNotFormed, `${who} never joined within ${seconds} s`),
      );
      c.end();
    }
    this.#members.fill(null);
    this.#reject(
      new BackendError(
        'InitializationFailed',
        `tcp: ${who} did not join rank 0 within ${seconds} s`,
        { missing, connectTimeoutSecs: seconds },
        'start every rank with the same coordinator address and port, or raise the connect timeout',
      ),
    );
    this.close();
  }
}
