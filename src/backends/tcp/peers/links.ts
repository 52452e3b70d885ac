/**
 * Forming a tcp group's direct links (spec/backend-tcp.md §14.1), right after the star has formed:
 *
 *  1. every worker but the last listens on an ephemeral port of the address it reaches rank 0 from
 *     (rank 0 needs no listener: its star links already join it to every worker);
 *  2. one round on the star (the backend's allgatherv, kind 'links') gives every rank every rank's
 *     listener and collective-algorithm policy; ranks that disagree on the policy fail on every rank;
 *  3. worker i dials every worker j with 1 ≤ j < i and runs the peer handshake; links are attached to
 *     the worker's backend as they open, so messages take them from the first one;
 *  4. a barrier on the star: it passes once every rank has opened all its dials — and an acceptor
 *     adopts a link before its Ack leaves, so then every link is in place on both ends. A rank that
 *     cannot open a link ends the group (Fail → rank 0 → Abort), so every other rank's barrier fails
 *     at once instead of waiting for the timeout.
 *
 * Under `star` nothing runs: the group is exactly the star of protocol 5's rounds (the off switch).
 * A rank under `star` in a group whose others are not meets their exchange with its first collective:
 * every rank then fails with CollectiveMismatch naming the 'links' round, the others' as
 * InitializationFailed that says to set the same algorithm everywhere. Eager, not on first use: a
 * link that cannot be opened is InitializationFailed naming both ranks, not a failure of some later
 * collective.
 */
import type { AlgorithmPolicy, CollectiveAlgorithm } from '../../../communicator/algorithms/policy.js';
import { COLLECTIVE_ALGORITHMS } from '../../../communicator/algorithms/policy.js';
import type { Backend } from '../../../communicator/communicator.js';
import { BackendError, CommError } from '../../../communicator/errors.js';
import { fingerprint } from '../../../communicator/fingerprint.js';
import type { Connection } from '../../star/connection.js';
import type { TcpSettings } from '../options.js';
import { dialPeer } from './dial.js';
import { PeerListener } from './listener.js';

/** Bytes of one rank's entry in the exchange: version, policy, port, host. */
export const LINK_ENTRY_BYTES = 128;
const ENTRY_VERSION = 1;
const HOST_AT = 29;
const MAX_HOST_BYTES = LINK_ENTRY_BYTES - HOST_AT;

/** What a worker backend offers for direct links (WorkerBackend). */
export interface PeerHost {
  readonly localHost: string | undefined;
  attachPeer(peer: number, connection: Connection): void;
  /** Settles with the group's failure once this rank learns of it. */
  readonly failed: Promise<CommError>;
}

interface Entry {
  policy: AlgorithmPolicy;
  host: string;
  port: number;
}

export function encodeEntry(entry: Entry): Uint8Array {
  const out = new Uint8Array(LINK_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  const host = new TextEncoder().encode(entry.host);
  if (host.length > MAX_HOST_BYTES) throw new RangeError(`host of ${host.length} bytes`);
  view.setUint8(0, ENTRY_VERSION);
  view.setUint8(1, COLLECTIVE_ALGORITHMS.indexOf(entry.policy.algorithm));
  view.setUint16(2, entry.port);
  view.setFloat64(4, entry.policy.thresholds.allreduce);
  view.setFloat64(12, entry.policy.thresholds.allgatherv);
  view.setFloat64(20, entry.policy.thresholds.broadcast);
  view.setUint8(28, host.length);
  out.set(host, HOST_AT);
  return out;
}

export function decodeEntry(bytes: Uint8Array): Entry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const algorithm = COLLECTIVE_ALGORITHMS[view.getUint8(1)] as CollectiveAlgorithm;
  return {
    policy: {
      algorithm,
      thresholds: {
        allreduce: view.getFloat64(4),
        allgatherv: view.getFloat64(12),
        broadcast: view.getFloat64(20),
      },
    },
    port: view.getUint16(2),
    host: new TextDecoder().decode(bytes.subarray(HOST_AT, HOST_AT + view.getUint8(28))),
  };
}

function describePolicy(policy: AlgorithmPolicy): string {
  if (policy.algorithm !== 'auto') return policy.algorithm;
  const t = policy.thresholds;
  return `auto (direct from ${t.allreduce} B allreduce, ${t.allgatherv} B allgatherv, ${t.broadcast} B broadcast)`;
}

function samePolicy(a: AlgorithmPolicy, b: AlgorithmPolicy): boolean {
  if (a.algorithm !== b.algorithm) return false;
  if (a.algorithm !== 'auto') return true;
  return (
    a.thresholds.allreduce === b.thresholds.allreduce &&
    a.thresholds.allgatherv === b.thresholds.allgatherv &&
    a.thresholds.broadcast === b.thresholds.broadcast
  );
}

function formationFailed(
  s: TcpSettings,
  message: string,
  context: Record<string, unknown>,
  suggestion: string,
): BackendError {
  return new BackendError(
    'InitializationFailed',
    `tcp rank ${s.rank}: ${message}`,
    { rank: s.rank, ...context },
    suggestion,
  );
}

/**
 * Runs steps 1–4 on a formed star backend; `peers` is the worker's side (null on rank 0). Rejects
 * with BackendError 'InitializationFailed'; the caller closes the backend then.
 */
export async function formDirectLinks(
  s: TcpSettings,
  backend: Backend,
  peers: PeerHost | null,
): Promise<void> {
  const { rank, size } = s;
  if (size === 1) return;
  if (s.algorithms.algorithm === 'star') return;
  let listener: PeerListener | null = null;
  try {
    if (peers !== null && rank < size - 1) {
      const host = peers.localHost ?? s.host;
      listener = await PeerListener.open(s, host, (peer, connection) => peers.attachPeer(peer, connection));
    }
    const table = await exchange(
      s,
      backend,
      encodeEntry({ policy: s.algorithms, host: listener?.host ?? '', port: listener?.port ?? 0 }),
    );
    const differing = table.findIndex((entry) => !samePolicy(entry.policy, s.algorithms));
    if (differing >= 0) {
      throw formationFailed(
        s,
        `the ranks disagree on the collective algorithm: rank ${differing} has ${describePolicy((table[differing] as Entry).policy)}, this rank ${describePolicy(s.algorithms)}`,
        { field: 'algorithm', peer: differing },
        'set the same COLLECTIVE_TCP_ALGORITHM (and directThresholds) on every rank',
      );
    }
    if (peers === null) {
      await linksUp(s, backend);
      return;
    }
    const deadline = Date.now() + s.connectTimeoutMs;
    // Another rank's failure ends the group while this one dials: its dials stop, and it reports
    // that cause — not a reset of its own handshake by a peer that gave up for the same reason.
    const abort = new AbortController();
    const groupFailed = peers.failed.then((error) => {
      abort.abort();
      return error;
    });
    const dials: Array<Promise<void>> = [];
    for (let j = 1; j < rank; j++) {
      const entry = table[j] as Entry;
      const adopt = (connection: Connection): void => peers.attachPeer(j, connection);
      dials.push(dialPeer(s, j, entry.host, entry.port, deadline, adopt, abort.signal));
    }
    const settled = Promise.allSettled(dials);
    const first = await Promise.race([settled, groupFailed]);
    if (first instanceof CommError) {
      await settled;
      throw asFormationError(s, first, 'opening the direct links');
    }
    const failed = first.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) {
      const error = failed.reason as BackendError;
      // The others are waiting in the barrier: end the group so theirs fails now, naming this link.
      backend.channel.fail(new CommError('CollectiveFailed', 'links', error.message, { rank }));
      throw error;
    }
    await linksUp(s, backend);
    const missing = listener ? [...listener.awaited] : [];
    if (missing.length > 0)
      throw new Error(
        `internal error: rank ${rank} passed the links barrier without links from ${missing.join(',')}`,
      );
  } finally {
    listener?.close();
  }
}

async function exchange(s: TcpSettings, backend: Backend, mine: Uint8Array): Promise<Entry[]> {
  const all = new Uint8Array(LINK_ENTRY_BYTES * s.size);
  const counts = new Array<number>(s.size).fill(LINK_ENTRY_BYTES);
  const displs = counts.map((_, r) => r * LINK_ENTRY_BYTES);
  try {
    await backend.allgatherv(
      fingerprint('links', { dtype: 'uint8', count: LINK_ENTRY_BYTES }),
      mine,
      all,
      counts,
      displs,
    );
  } catch (error) {
    const mismatch = error instanceof CommError && error.code === 'CollectiveMismatch';
    throw asFormationError(
      s,
      error,
      'exchanging the direct-link addresses',
      mismatch
        ? 'a rank called a collective instead: it runs with COLLECTIVE_TCP_ALGORITHM=star and this one does not; set the same algorithm on every rank'
        : undefined,
    );
  }
  return counts.map((_, r) => decodeEntry(all.subarray(r * LINK_ENTRY_BYTES, (r + 1) * LINK_ENTRY_BYTES)));
}

async function linksUp(s: TcpSettings, backend: Backend): Promise<void> {
  try {
    await backend.barrier(fingerprint('links', { count: 1 }));
  } catch (error) {
    throw asFormationError(s, error, 'opening the direct links');
  }
}

function asFormationError(
  s: TcpSettings,
  error: unknown,
  step: string,
  suggestion = 'look at the rank the message names; set COLLECTIVE_TCP_ALGORITHM=star to route every collective through rank 0',
): BackendError {
  if (error instanceof BackendError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return formationFailed(
    s,
    `the group failed while ${step}: ${message}`,
    { cause: error instanceof CommError ? error.code : undefined },
    suggestion,
  );
}
