/**
 * Rank 0's table of connections still in the handshake (spec/backend-tcp.md §3.5). Connections that
 * never finish — idle connections, a flood, a reconnect storm — cannot keep the real ranks out:
 *  - each has a deadline from its arrival (HANDSHAKE_DEADLINE_MS, at most the connect timeout) to
 *    be admitted; past it, it is closed;
 *  - at most MAX_PENDING_HANDSHAKES (or the transport's maxPendingHandshakes) are held; when full,
 *    a new arrival evicts the oldest by arrival,
 *    whatever it has sent: a Hello proves nothing (no secret is needed to send a valid one), so no
 *    connection can buy protection, and a flooder must out-pace a real rank's whole handshake.
 * Connections dropped in the handshake are reported through the warning hook at most once per
 * DROP_WARNING_INTERVAL_MS: the first at once, the others in one summary, naming source addresses.
 */
import type { Connection } from './connection.js';
import type { StarBackendName } from './options.js';
import { unrefTimer } from '../../communicator/platform.js';

/** Unauthenticated connections held at once; a new one past this evicts the oldest. */
export const MAX_PENDING_HANDSHAKES = 64;
/** A connection must finish its handshake (be admitted or refused) this long after it arrives (ms). */
export const HANDSHAKE_DEADLINE_MS = 5_000;
/** Drops in the handshake are reported at most once per this interval (ms): one burst, one warning. */
export const DROP_WARNING_INTERVAL_MS = 10_000;
/** Source addresses named in a warning; the rest are counted. */
const SOURCES_NAMED = 5;
const MS_PER_SEC = 1000;

type DropKind = 'evicted' | 'deadline' | 'failed' | 'rejected';

interface Entry {
  /** host:port, as named in warnings. */
  address: string;
  host: string;
  timer: ReturnType<typeof setTimeout>;
  /** Rank 0 refused it (Reject sent, counted there): its end is not reported again. */
  refused: boolean;
}

/** "127.0.0.1 ×64, ::1 ×2": the hosts with the most connections first. */
function nameSources(counts: Map<string, number>): string {
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  const named = sorted.slice(0, SOURCES_NAMED).map(([host, n]) => `${host} ×${n}`);
  const rest = sorted.length - SOURCES_NAMED;
  return rest > 0 ? `${named.join(', ')} and ${rest} more addresses` : named.join(', ');
}

export class PendingHandshakes {
  readonly #entries = new Map<Connection, Entry>();
  readonly #deadlineMs: number;
  readonly #max: number;
  readonly #who: string;
  /** The port flooded, as the warning names it. */
  readonly #port: string;
  readonly #warn: (message: string) => void;
  /** Running while drops are being summarised; null when the last interval was quiet. */
  #interval: ReturnType<typeof setTimeout> | null = null;
  #counts: Record<DropKind, number> = { evicted: 0, deadline: 0, failed: 0, rejected: 0 };
  /** Refusals already warned in full since the last quiet interval, by reason and claimed rank. */
  #refusalsWarned = new Set<string>();
  #sources = new Map<string, number>();

  constructor(
    connectTimeoutMs: number,
    warn: (message: string) => void,
    maxPending: number = MAX_PENDING_HANDSHAKES,
    /** The backend's name, as warnings name rank 0 (`tcp rank 0: …`, `ws rank 0: …`). */
    backend: StarBackendName,
    /** The rank whose listener this is (a worker's direct-link listener, §14.5); default 0. */
    rank = 0,
  ) {
    this.#who = `${backend} rank ${rank}`;
    this.#port = rank === 0 ? "rank 0's port" : `rank ${rank}'s direct-link port`;
    this.#deadlineMs = Math.min(HANDSHAKE_DEADLINE_MS, connectTimeoutMs);
    this.#max = maxPending;
    this.#warn = warn;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Holds `connection` until settled or dropped; when the table is full, evicts the oldest first. */
  add(connection: Connection): void {
    if (this.#entries.size >= this.#max) this.#evictOldest();
    const link = connection.link;
    const timer = setTimeout(() => this.#drop(connection, 'deadline'), this.#deadlineMs);
    unrefTimer(timer);
    this.#entries.set(connection, {
      address: link.remoteAddress,
      host: link.remoteHost,
      timer,
      refused: false,
    });
  }

  /** `connection` was admitted: it leaves the table. */
  settle(connection: Connection): void {
    const entry = this.#entries.get(connection);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(connection);
  }

  /** From the connection's onEnd: a connection that failed in the handshake is reported. */
  ended(connection: Connection, error: Error | null): void {
    const entry = this.#entries.get(connection);
    if (!entry) return;
    this.settle(connection);
    if (error) this.#report('failed', entry, error.message);
  }

  /**
   * Rank 0 refused `connection` (Reject sent). The first refusal of each kind (`key`: the reason
   * and the rank it claimed) is warned in full, since it names a setting a careless peer got wrong;
   * repeats — a flood of wrong tokens — are counted into the interval's summary, so a hostile peer
   * cannot flood rank 0's stderr (spec §3.5).
   */
  refused(connection: Connection, key: string, message: string): void {
    const entry = this.#entries.get(connection);
    if (entry) entry.refused = true;
    if (this.#refusalsWarned.has(key)) {
      if (entry) this.#count('rejected', entry);
      if (this.#interval === null) this.#startInterval();
      return;
    }
    this.#refusalsWarned.add(key);
    if (this.#interval === null) this.#startInterval();
    this.#warn(message);
  }

  /** Formed: connections still in the handshake must not keep rank 0's process alive. */
  unref(): void {
    for (const connection of this.#entries.keys()) connection.link.unref();
  }

  /** Closes every connection still in the handshake, without reporting them. */
  close(): void {
    if (this.#interval) clearTimeout(this.#interval);
    this.#interval = null;
    const connections = [...this.#entries.keys()];
    for (const connection of connections) this.settle(connection);
    for (const connection of connections) connection.destroy();
  }

  /** The oldest by arrival: a Map iterates in insertion order. */
  #evictOldest(): void {
    const oldest = this.#entries.keys().next();
    if (!oldest.done) this.#drop(oldest.value, 'evicted');
  }

  #drop(connection: Connection, kind: DropKind): void {
    const entry = this.#entries.get(connection);
    if (!entry) return;
    // Reported before it leaves the table: an eviction's warning names the flood it is part of.
    if (entry.refused) {
      // Already counted as refused.
    } else if (kind === 'deadline')
      this.#report(kind, entry, `no complete handshake within ${this.#deadlineMs / MS_PER_SEC} s`);
    else if (this.#interval === null) this.#reportFlood(entry);
    else this.#count(kind, entry);
    this.settle(connection);
    connection.fail(new Error(kind === 'evicted' ? 'evicted by a connection flood' : 'handshake deadline'));
  }

  #reportFlood(entry: Entry): void {
    const hosts = new Map<string, number>();
    for (const e of this.#entries.values()) hosts.set(e.host, (hosts.get(e.host) ?? 0) + 1);
    this.#startInterval();
    this.#warn(
      `${this.#who}: connection flood: ${this.#max} connections were in the handshake at once ` +
        `(from ${nameSources(hosts)}), so the oldest, from ${entry.address}, was closed to admit a new one. ` +
        `If these are not this job's ranks, something else connects to ${this.#port}: find it by these ` +
        `addresses, or give the job its own port. Further drops are summarised every ${DROP_WARNING_INTERVAL_MS / MS_PER_SEC} s.`,
    );
  }

  #report(kind: DropKind, entry: Entry, detail: string): void {
    if (this.#interval !== null) return this.#count(kind, entry);
    this.#startInterval();
    const what =
      kind === 'deadline' ? `${detail} (the handshake deadline)` : `during the handshake: ${detail}`;
    this.#warn(
      `${this.#who}: dropped a connection from ${entry.address}: ${what}. ` +
        `Further drops are summarised every ${DROP_WARNING_INTERVAL_MS / MS_PER_SEC} s.`,
    );
  }

  #count(kind: DropKind, entry: Entry): void {
    this.#counts[kind]++;
    this.#sources.set(entry.host, (this.#sources.get(entry.host) ?? 0) + 1);
  }

  #startInterval(): void {
    this.#interval = setTimeout(() => this.#summarise(), DROP_WARNING_INTERVAL_MS);
    unrefTimer(this.#interval);
  }

  /** At the end of an interval: one warning for its drops, or quiet (the next drop warns at once). */
  #summarise(): void {
    const { evicted, deadline, failed, rejected } = this.#counts;
    const total = evicted + deadline + failed + rejected;
    this.#interval = null;
    if (total === 0) {
      this.#refusalsWarned.clear();
      return;
    }
    const parts = [
      evicted > 0 ? `${evicted} evicted by a connection flood (${this.#max} in the handshake at once)` : '',
      deadline > 0 ? `${deadline} silent past the handshake deadline` : '',
      failed > 0 ? `${failed} failed` : '',
      rejected > 0 ? `${rejected} refused again for a reason already warned of` : '',
    ].filter((p) => p !== '');
    const sources = nameSources(this.#sources);
    this.#counts = { evicted: 0, deadline: 0, failed: 0, rejected: 0 };
    this.#sources = new Map();
    this.#startInterval();
    this.#warn(
      `${this.#who}: ${total} more connection${total === 1 ? '' : 's'} dropped during the handshake in the last ` +
        `${DROP_WARNING_INTERVAL_MS / MS_PER_SEC} s: ${parts.join(', ')}; from ${sources}`,
    );
  }
}
