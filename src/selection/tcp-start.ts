/**
 * Starts the tcp backend from its validated config (spec/selection.md §2, §5.4): the backend's module is
 * imported here, when tcp is selected; a re-init reuses rank 0's first port; a failure to start becomes
 * an InitializationFailed that names the address and what to do (tcp-failure.ts).
 */
import type { Communicator } from '../communicator/communicator.js';
import { STALL_WARNING_CODE } from '../communicator/errors.js';
import { loadBackendModule, type StartHooks } from './backend-start.js';
import type { TcpConfig } from './config.js';
import { ensureResolvable } from './coordinator-lookup.js';
import {
  joinAgain,
  refuseIfStillOpen,
  rememberEphemeralPort,
  rememberOpen,
  withEarlierPort,
} from './reinit.js';
import { tcpStartFailure } from './tcp-failure.js';

const loadTcp = () => import('../backends/tcp/index.js');

/** Imports the tcp backend's module, as startTcp will (backends.ts: the row's preload). */
export async function preloadTcp(): Promise<void> {
  await loadTcp();
}

export async function startTcp(selected: TcpConfig, hooks: StartHooks): Promise<Communicator> {
  const { connectTcp } = await loadBackendModule('tcp', loadTcp);
  // A re-init listens on the port rank 0 got the first time: the launcher relayed that one (§5.4).
  const config = withEarlierPort(selected);
  // A second init() while the first communicator of this group is open (§5.4): refused, not a port clash.
  refuseIfStillOpen(config);
  let listenedOn = config.port;
  try {
    // Rank 0 binds (a bad name fails its listen at once); the others would retry a bad name.
    if (config.rank !== 0) await ensureResolvable(config.host, config.connectTimeoutSecs);
    const comm = await joinAgain(config, () =>
      connectTcp({
        rank: config.rank,
        size: config.size,
        host: config.host,
        port: config.port,
        ...(config.bindAddr !== undefined ? { bindAddr: config.bindAddr } : {}),
        ...(config.token !== undefined ? { token: config.token } : {}),
        ...(config.allowInsecure !== undefined ? { allowInsecure: config.allowInsecure } : {}),
        timeoutSecs: config.timeoutSecs,
        stallWarningSecs: config.stallWarningSecs,
        ...(config.jobId !== undefined ? { jobId: config.jobId } : {}),
        connectTimeoutSecs: config.connectTimeoutSecs,
        onWarning: (message) => hooks.onWarning('COLLECTIVE_TCP', message),
        onStallWarning: (message) => hooks.onWarning(STALL_WARNING_CODE, message),
        ...(config.port === 0
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
