/**
 * The tcp backend (spec/backend-tcp.md): the star protocol (`../star/`) over `net.Socket` links
 * (§11.2). Ranks are processes; rank 0 listens and coordinates, ranks 1…R-1 connect to it. This
 * module is its whole public surface.
 */
import { CheckedCommunicator, type Communicator } from '../../communicator/communicator.js';
import { formatHostPort } from '../../communicator/host-address.js';
import { Admission } from '../star/admission.js';
import { CoordinatorBackend } from '../star/coordinator.js';
import { joinGroup } from '../star/join.js';
import { WorkerBackend } from '../star/worker.js';
import { listenNet, netDialer } from './net-link.js';
import { checkBoundAddress, resolveTcpOptions, type TcpOptions } from './options.js';

export type { TcpOptions } from './options.js';

/**
 * Forms the group and resolves with this rank's communicator once every rank has joined.
 * Rejects with BackendError 'IncompatibleSettings' (bad options) or 'InitializationFailed'
 * (rank 0 unreachable, handshake rejected, the group not formed within connectTimeoutSecs).
 */
export async function connectTcp(options: TcpOptions): Promise<Communicator> {
  const settings = resolveTcpOptions(options);
  if (settings.rank > 0) {
    const target = {
      address: formatHostPort(settings.host, settings.port),
      dial: netDialer(settings.host, settings.port),
    };
    return joinGroup(
      settings,
      target,
      (connection) => new CheckedCommunicator(new WorkerBackend(settings, connection)),
    );
  }
  const listener = await listenNet(settings);
  const admission = new Admission(settings, listener);
  try {
    checkBoundAddress(settings, listener.host);
    settings.onListening({ host: listener.host, port: listener.port });
    admission.start();
    const members = await admission.formed;
    return new CheckedCommunicator(new CoordinatorBackend(settings, members, admission));
  } catch (error) {
    admission.close();
    throw error;
  }
}
