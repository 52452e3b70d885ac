/**
 * Re-initialisation in one process (spec/selection.md §5.4): a program that closes its communicator
 * and calls init() again must find the same group. Under a launcher that relays rank 0's ephemeral
 * port (collective run starts rank 0 with port 0 and hands the port it got to the others, once), the
 * others dial that same port again — so rank 0 listens again on the port it got the first time, and a
 * rank ≥ 1 that reaches rank 0's previous, still-open group (refused as complete, or closed during the
 * handshake) keeps trying until the connect timeout, as it would for a rank 0 that is not listening yet.
 * On shm the backend itself lets a rank that closed join its group's next generation (spec/backend-shm.md §5.6).
 */
import type { Communicator } from '../communicator/communicator.js';
import { BackendError } from '../communicator/errors.js';
import { formatHostPort, normaliseHost } from '../communicator/host-address.js';
import type { TcpConfig } from './config.js';

/** A coordinated backend's config (tcp, ws): what re-initialisation reads. */
type Coordinated = Omit<TcpConfig, 'backend' | 'algorithm'>;

/** First pause before dialling again after rank 0's previous group refused us; doubles up to the max. */
const FIRST_REJOIN_PAUSE_MS = 50;
const MAX_REJOIN_PAUSE_MS = 1_000;
const MS_PER_SEC = 1000;

/** Per process: the port rank 0 got when it listened on port 0, by listen address. */
const ephemeralPorts = new Map<string, number>();
/** Per process: coordinators (host:port) this process has formed a group with. */
const joinedBefore = new Set<string>();

/** Per process: the tcp communicators init() made, by group and rank (see memberKey), until closed. */
const openMembers = new Map<string, WeakRef<Communicator>>();

// Keys use the canonical spelling: `::1` and `0:0:0:0:0:0:0:1` are one address (spec/backend-tcp.md §1.1).
const listenKey = (config: Coordinated): string => normaliseHost(config.bindAddr ?? config.host).address;
/** One rank of one group: rank 0 by the address it listens on, the others by the coordinator they dial. */
const memberKey = (config: Coordinated, port = config.port): string =>
  `${formatHostPort(config.rank === 0 ? listenKey(config) : normaliseHost(config.host).address, port)}#${config.rank}/${config.size}`;

/**
 * Before joining: this process must not already hold an open communicator of this rank of this
 * group (its rank 0 would find the port taken, the others a complete group). As on shm, the call
 * is refused at once on every rank that makes it.
 */
export function refuseIfStillOpen(config: Coordinated): void {
  const earlier = openMembers.get(memberKey(config))?.deref();
  if (earlier === undefined) return;
  if (earlier.closed) {
    openMembers.delete(memberKey(config));
    return;
  }
  const where =
    config.rank === 0
      ? `listening on ${formatHostPort(config.host, config.port)}`
      : `of rank 0 at ${formatHostPort(config.host, config.port)}`;
  throw new BackendError(
    'IncompatibleSettings',
    `init(): a communicator from init() is still open in this process for this group (tcp rank ${config.rank} of ${config.size}, ${where})`,
    { rank: config.rank, size: config.size, host: config.host, port: config.port },
    'close() it first (or keep using it): await comm.close() before calling init() again',
  );
}

/** After joining: `comm` is this process's member of the group until it is closed. */
export function rememberOpen(config: Coordinated, comm: Communicator, port = config.port): void {
  openMembers.set(memberKey(config, port), new WeakRef(comm));
}
const coordinatorKey = (config: Coordinated): string =>
  formatHostPort(normaliseHost(config.host).address, config.port);

/** Rank 0 with port 0 listens again on the port it got the first time in this process. */
export function withEarlierPort<C extends Coordinated>(config: C): C {
  if (config.rank !== 0 || config.port !== 0) return config;
  const port = ephemeralPorts.get(listenKey(config));
  return port === undefined ? config : { ...config, port };
}

export function rememberEphemeralPort(config: Coordinated, port: number): void {
  if (config.rank === 0 && config.port === 0) ephemeralPorts.set(listenKey(config), port);
}

/**
 * What reaching rank 0's previous group looks like: it refuses the join as complete, or it closes
 * while our handshake is in flight. Every other refusal (token, size, version, job) is final.
 */
async function metPreviousGroup(error: unknown): Promise<boolean> {
  if (!(error instanceof BackendError) || error.kind !== 'InitializationFailed') return false;
  if (error.context['closedDuringHandshake'] === true) return true;
  // Loaded here, not at the top: the tcp backend's modules load only when it is picked (registry's
  // load()); by now connectTcp has loaded this one.
  const { RejectReason } = await import('../backends/star/handshake.js');
  return error.context['rejectReason'] === RejectReason.GroupComplete;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Joins through `connect`. On a re-init (this process formed a group at this coordinator before),
 * meeting rank 0's previous group (metPreviousGroup) is retried until the connect timeout:
 * that group is about to close, and rank 0 then listens again on the same port.
 */
export async function joinAgain<T>(config: Coordinated, connect: () => Promise<T>): Promise<T> {
  const key = coordinatorKey(config);
  const deadline = Date.now() + config.connectTimeoutSecs * MS_PER_SEC;
  let wait = FIRST_REJOIN_PAUSE_MS;
  for (;;) {
    try {
      const result = await connect();
      if (config.rank !== 0) joinedBefore.add(key);
      return result;
    } catch (error) {
      const left = deadline - Date.now();
      if (config.rank === 0 || !joinedBefore.has(key) || !(await metPreviousGroup(error)) || left <= 0)
        throw error;
      await pause(Math.min(wait, left));
      wait = Math.min(wait * 2, MAX_REJOIN_PAUSE_MS);
    }
  }
}
