/**
 * Starts the ws backend from its validated config (spec/selection.md §2, §5.4): the backend's module
 * is imported here, when ws is selected; a re-init reuses rank 0's first port, as for tcp.
 */
import type { Communicator } from '../communicator/communicator.js';
import { STALL_WARNING_CODE } from '../communicator/errors.js';
import { loadBackendModule, type StartHooks } from './backend-start.js';
import {
  joinAgain,
  refuseIfStillOpen,
  rememberEphemeralPort,
  rememberOpen,
  withEarlierPort,
} from './reinit.js';
import { tcpStartFailure } from './tcp-failure.js';
import type { WsConfig } from './ws-config.js';

const loadWs = () => import('../backends/ws/index.js');

/** Imports the ws backend's module, as startWs will (backends.ts: the row's preload). */
export async function preloadWs(): Promise<void> {
  await loadWs();
}

export async function startWs(selected: WsConfig, hooks: StartHooks): Promise<Communicator> {
  const { connectWs } = await loadBackendModule('ws', loadWs);
  const config = withEarlierPort(selected);
  refuseIfStillOpen(config);
  let listenedOn = config.port;
  try {
    const comm = await joinAgain(config, () =>
      connectWs({
        rank: config.rank,
        size: config.size,
        host: config.host,
        port: config.port,
        ...(config.url !== undefined ? { url: config.url } : {}),
        ...(config.server !== undefined ? { server: config.server } : {}),
        ...(config.path !== undefined ? { path: config.path } : {}),
        ...(config.allowedOrigins !== undefined ? { allowedOrigins: config.allowedOrigins } : {}),
        ...(config.bindAddr !== undefined ? { bindAddr: config.bindAddr } : {}),
        ...(config.token !== undefined ? { token: config.token } : {}),
        ...(config.allowInsecure !== undefined ? { allowInsecure: config.allowInsecure } : {}),
        timeoutSecs: config.timeoutSecs,
        stallWarningSecs: config.stallWarningSecs,
        ...(config.jobId !== undefined ? { jobId: config.jobId } : {}),
        connectTimeoutSecs: config.connectTimeoutSecs,
        onWarning: (message) => hooks.onWarning('COLLECTIVE_WS', message),
        onStallWarning: (message) => hooks.onWarning(STALL_WARNING_CODE, message),
        ...(config.port === 0 && config.server === undefined
          ? {
              onListening: (address: { host: string; port: number }) => {
                rememberEphemeralPort(config, address.port);
                listenedOn = address.port;
                hooks.onListening?.(address);
              },
            }
          : {}),
      }),
    );
    rememberOpen(config, comm, listenedOn);
    return comm;
  } catch (error) {
    throw tcpStartFailure(error, config);
  }
}
