/**
 * The tcp backend (spec/backend-tcp.md): ranks are processes; rank 0 listens and coordinates, ranks
 * 1…R-1 connect to it. This module is its whole public surface.
 */
import { CheckedCommunicator, type Communicator } from '../../communicator/communicator.js';
import { Admission } from '../star/admission.js';
import { CoordinatorBackend } from '../star/coordinator.js';
import { joinGroup } from '../star/join.js';
import { checkBoundAddress, resolveTcpOptions, type TcpOptions } from './options.js';
import { WorkerBackend } from '../star/worker.js';

export type { TcpOptions } from './options.js';

/**
 * Forms the group and resolves with this rank's communicator once every rank has joined.
 * Rejects with BackendError 'IncompatibleSettings' (bad options) or 'InitializationFailed'
 * (rank 0 unreachable, handshake rejected, the group not formed within connectTimeoutSecs).
 */
export async function connectTcp(options: TcpOptions): Promise<Communicator> {
  const settings = resolveTcpOptions(options);
  if (settings.rank > 0) {
    return joinGroup(
      settings,
      (connection) => new CheckedCommunicator(new WorkerBackend(settings, connection)),
    );
  }
  const admission = new Admission(settings);
  try {
    const address = await admission.open();
    checkBoundAddress(settings, address.host);
    settings.onListening(address);
    const members = await admission.formed;
    return new CheckedCommunicator(new CoordinatorBackend(settings, members, admission));
  } catch (error) {
    admission.close();
    throw error;
  }
}
