/**
 * The tcp backend (spec/backend-tcp.md): the star protocol (`../star/`) over `net.Socket` links
 * (§11.2). Ranks are processes; rank 0 listens and coordinates, ranks 1…R-1 connect to it; then,
 * unless the algorithm is `star`, the workers open direct links between each other (§14). This
 * module is its whole public surface.
 */
import type { Communicator } from '../../communicator/communicator.js';
import { formatHostPort } from '../../communicator/host-address.js';
import { coordinateGroup, joinAsWorker } from '../star/formation.js';
import { checkBoundAddress } from '../star/listen-address.js';
import { listenNet, netDialer } from './net-link.js';
import { formDirectLinks } from './peers/links.js';
import { resolveTcpOptions, type TcpOptions } from './options.js';

export type { TcpOptions } from './options.js';

/**
 * Forms the group and resolves with this rank's communicator once every rank has joined.
 * Rejects with BackendError 'IncompatibleSettings' (bad options) or 'InitializationFailed'
 * (rank 0 unreachable, handshake rejected, the group not formed within connectTimeoutSecs).
 */
export async function connectTcp(options: TcpOptions): Promise<Communicator> {
  const settings = resolveTcpOptions(options);
  if (settings.rank > 0) {
    return joinAsWorker(
      settings,
      {
        address: formatHostPort(settings.host, settings.port),
        dial: netDialer(settings.host, settings.port),
      },
      (backend) => formDirectLinks(settings, backend, backend),
    );
  }
  const listener = await listenNet(settings);
  return coordinateGroup(
    settings,
    listener,
    () => {
      checkBoundAddress('tcp', settings, listener.host, settings.server !== null);
      settings.onListening({ host: listener.host, port: listener.port });
    },
    (backend) => formDirectLinks(settings, backend, null),
  );
}
