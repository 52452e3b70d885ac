/**
 * How a star transport turns a link into a communicator (spec/backend-tcp.md §3): rank 0 admits the
 * group on its listener and coordinates it; every other rank joins through a dialer. The transport
 * (tcp/, ws/) only validates its options and builds the listener or the dialer.
 */
import { CheckedCommunicator, type Backend, type Communicator } from '../../communicator/communicator.js';
import { withDirectAlgorithms } from '../../communicator/algorithms/direct.js';
import type { PairChannel } from '../../communicator/messages/channel.js';
import type { LinkListener } from '../link/link.js';
import { Admission } from './admission.js';
import { CoordinatorBackend } from './coordinator.js';
import { joinGroup, type JoinTarget } from './join.js';
import type { StarSettings } from './settings.js';
import { WorkerBackend } from './worker.js';

/**
 * Rank 0 on a listener that is already listening: `announce` runs first (the transport checks the
 * address it really bound and reports it through onListening; a throw refuses the group), then
 * admission, then the coordinator once every rank has joined. Any failure closes the listener's
 * admission (and with it the listener) before it rejects.
 */
export async function coordinateGroup(
  settings: StarSettings,
  listener: LinkListener,
  announce: () => void,
  formed?: (backend: CoordinatorBackend) => Promise<void>,
): Promise<Communicator> {
  const admission = new Admission(settings, listener);
  let backend: CoordinatorBackend;
  try {
    announce();
    admission.start();
    const members = await admission.formed;
    backend = new CoordinatorBackend(settings, members, admission);
  } catch (error) {
    admission.close();
    throw error;
  }
  return finish(backend, settings, formed);
}

/**
 * A rank ≥ 1: dials rank 0 through `target` and resolves once the group has formed — and, with
 * `formed`, once that transport's own step after formation (tcp's direct links, backend-tcp §14.1)
 * has passed on every rank.
 */
export async function joinAsWorker(
  settings: StarSettings,
  target: JoinTarget,
  formed?: (backend: WorkerBackend) => Promise<void>,
): Promise<Communicator> {
  const backend = await joinGroup(settings, target, (connection) => new WorkerBackend(settings, connection));
  return finish(backend, settings, formed);
}

/** Runs the transport's step after formation; when it fails, the backend is closed before the error is raised. */
async function finish<B extends Backend>(
  backend: B,
  settings: StarSettings,
  formed: ((backend: B) => Promise<void>) | undefined,
): Promise<Communicator> {
  if (formed) {
    try {
      await formed(backend);
    } catch (error) {
      await backend.close().catch(() => {});
      throw error;
    }
  }
  return wrap(backend, settings);
}

/** Each star communicator's pair channel, for tests that drive the channel itself (spec §12). */
const CHANNELS = new WeakMap<Communicator, PairChannel>();

function wrap(backend: Backend, settings: StarSettings): Communicator {
  const policy = settings.algorithms;
  const algorithms =
    policy && policy.algorithm !== 'star' && backend.size > 1
      ? withDirectAlgorithms(backend, policy)
      : backend;
  const comm = new CheckedCommunicator(algorithms);
  CHANNELS.set(comm, backend.channel);
  return comm;
}

/** Internal (tests): the pair channel behind a communicator this module formed; undefined for any other. */
export function starChannelOf(comm: Communicator): PairChannel | undefined {
  return CHANNELS.get(comm);
}
