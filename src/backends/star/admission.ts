/**
 * Rank 0's side of forming the group (spec/backend-tcp.md §3): take the links a LinkListener
 * accepts (§11), run the handshake on every one, and resolve once ranks 1…R-1 have each joined exactly once.
 * A connection that fails the handshake is told why (Reject), logged through the warning hook and
 * closed; the group being formed is not disturbed. Connections still in the handshake are bounded
 * in number and time (PendingHandshakes, §3.5). After formation, late connections are turned away
 * the same way until close().
 */
import { BackendError } from '../../communicator/errors.js';
import type { Link, LinkListener } from '../link/link.js';
import { Connection } from './connection.js';
import { unrefTimer } from '../../communicator/platform.js';
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
  type JoinIds,
  type RejectReasonCode,
} from './handshake.js';
import { PendingHandshakes } from './pending.js';
import { MAX_FRAME_PAYLOAD, Tag, tagName } from './protocol.js';
import { backendOf, type StarSettings } from './settings.js';

export { HANDSHAKE_DEADLINE_MS, MAX_PENDING_HANDSHAKES } from './pending.js';

export class Admission {
  readonly #settings: StarSettings;
  readonly #listener: LinkListener;
  readonly #members: Array<Connection | null>;
  #joined = 0;
  readonly #pending: PendingHandshakes;
  /** What each member's Ack carries: rank 0's proof of the token (§3.1), empty without a token. */
  readonly #acks: Buffer[];
  #formed = false;
  #closed = false;
  #deadline: ReturnType<typeof setTimeout> | null = null;
  #resolve: (members: Connection[]) => void = () => {};
  #reject: (error: Error) => void = () => {};
  readonly formed: Promise<Connection[]>;

  /** Takes every link `listener` accepts from now on; call start() once the address is checked. */
  constructor(settings: StarSettings, listener: LinkListener) {
    this.#settings = settings;
    this.#listener = listener;
    listener.onLink = (link) => this.#admit(link);
    this.#members = new Array<Connection | null>(settings.size).fill(null);
    this.#acks = new Array<Buffer>(settings.size).fill(Buffer.alloc(0));
    this.#pending = new PendingHandshakes(
      settings.connectTimeoutMs,
      settings.warn,
      settings.maxPendingHandshakes,
      backendOf(settings),
    );
    this.formed = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The caller may never await `formed` if open() fails; keep that rejection from being unhandled.
    this.formed.catch(() => {});
  }

  /** Starts the formation clock (connectTimeoutMs); a group of one is formed at once. */
  start(): void {
    if (this.#closed) return;
    const s = this.#settings;
    if (s.size === 1) this.#complete();
    else {
      this.#deadline = setTimeout(() => this.#giveUp(), s.connectTimeoutMs);
      unrefTimer(this.#deadline);
    }
  }

  /** Stops listening and drops every connection not yet handed over. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#listener.close();
    this.#pending.close();
    if (!this.#formed) {
      for (const c of this.#members) c?.destroy();
      this.#reject(
        new BackendError(
          'InitializationFailed',
          `${backendOf(this.#settings)}: closed before the group was formed`,
        ),
      );
    }
  }

  #admit(link: Link): void {
    if (this.#closed) {
      link.destroy();
      return;
    }
    // After formation, a late connection is only turned away: it must not keep rank 0's process alive.
    if (this.#formed) link.unref();
    const connection = new Connection(link);
    this.#pending.add(connection);
    const where = link.remoteAddress;
    let hello: HandshakeHello | null = null;
    let join: JoinIds | null = null;
    const reject = (reason: RejectReasonCode, message: string): void => {
      const advice = reason === RejectReason.JobMismatch ? ` — ${JOB_MISMATCH_ADVICE}` : '';
      const claimed = hello === null ? '?' : String(hello.rank);
      this.#pending.refused(
        connection,
        `${reason}:${claimed}`,
        `${backendOf(this.#settings)} rank 0: rejected a connection from ${where}: ${message}${advice}`,
      );
      connection.send(Tag.Reject, encodeReject(reason, message));
      connection.end();
      connection.onFrame = () => {};
    };
    connection.onEnd = (error) => {
      if (!this.#closed) this.#pending.ended(connection, error);
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
        if (this.#settings.token === null) return this.#register(connection, hello, Buffer.alloc(0), reject);
        // The worker proves the token first (§3.1): a Challenge carries nothing keyed by the token.
        join = { workerNonce: hello.nonce, coordinatorNonce: newNonce(), rank: hello.rank, size: hello.size };
        connection.send(Tag.Challenge, encodeChallenge(join.coordinatorNonce));
        return;
      }
      if (tag === Tag.Auth && hello !== null && join !== null && this.#settings.token !== null) {
        const ids = join;
        join = null;
        if (!proofMatches(proof(this.#settings.token, 'worker', ids), payload)) {
          return reject(
            RejectReason.BadToken,
            `rank ${hello.rank} failed the token challenge: set the same COLLECTIVE_TCP_TOKEN on every rank`,
          );
        }
        return this.#register(connection, hello, proof(this.#settings.token, 'coordinator', ids), reject);
      }
      reject(RejectReason.Malformed, `unexpected ${tagName(tag)} frame during the handshake`);
    };
  }

  #register(
    connection: Connection,
    hello: HandshakeHello,
    ack: Buffer,
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
    this.#pending.settle(connection);
    connection.onFrame = (tag) =>
      connection.fail(new Error(`rank ${hello.rank} sent ${tagName(tag)} before the group was formed`));
    connection.onEnd = (error) => {
      // A member that leaves before formation frees its slot; the group may still form without a hitch.
      if (this.#members[hello.rank] === connection && !this.#formed) {
        this.#members[hello.rank] = null;
        this.#joined--;
        if (!this.#closed)
          this.#settings.warn(
            `${backendOf(this.#settings)} rank 0: rank ${hello.rank} left before the group was formed${error ? `: ${error.message}` : ''}`,
          );
      }
    };
    this.#members[hello.rank] = connection;
    this.#acks[hello.rank] = ack;
    this.#joined++;
    if (this.#joined === this.#settings.size - 1) this.#complete();
  }

  #complete(): void {
    this.#formed = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    // Formed, the listening socket only turns late joiners away: it must not keep the process alive.
    this.#listener.unref();
    this.#pending.unref();
    const members = this.#members as Connection[];
    members.forEach((member, rank) => {
      if (rank === 0) return;
      member.reader.maxPayload = MAX_FRAME_PAYLOAD;
      member.send(Tag.Ack, this.#acks[rank] as Buffer);
    });
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
        `${backendOf(this.#settings)}: ${who} did not join rank 0 within ${seconds} s`,
        { missing, connectTimeoutSecs: seconds },
        'start every rank with the same coordinator address and port, or raise the connect timeout',
      ),
    );
    this.close();
  }
}
