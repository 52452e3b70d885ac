/**
 * What starting tcp and ws from their validated configs share (spec/selection.md §2, §5.4): the
 * backend's module is imported only when it is selected; a re-init reuses rank 0's first port and
 * is refused while this rank's previous communicator is open; rank 0's ephemeral port is relayed
 * through onListening; a failure to start becomes an InitializationFailed that names the address and
 * what to do (tcp-failure.ts). Each transport adds only its own options (tcp-start.ts, ws-start.ts).
 */
import type { Communicator } from '../communicator/communicator.js';
import { STALL_WARNING_CODE } from '../communicator/errors.js';
import type { ListenOptions } from '../backends/star/listen-address.js';
import type { StarOptions } from '../backends/star/options.js';
import type { StartHooks } from './backend-start.js';
import type { TcpConfig } from './config.js';
import {
  joinAgain,
  refuseIfStillOpen,
  rememberEphemeralPort,
  rememberOpen,
  withEarlierPort,
} from './reinit.js';
import { tcpStartFailure } from './tcp-failure.js';

/** The config of a star transport (tcp, ws): what the common options are built from. */
export type StarConfig = Omit<TcpConfig, 'backend' | 'algorithm'>;

/** The options connectTcp and connectWs both take. */
export type StarConnectOptions = StarOptions & ListenOptions;

/** How one star transport starts, given the common options. */
export interface StarTransport<C extends StarConfig> {
  /** The code its backend warnings are relayed under (COLLECTIVE_TCP, COLLECTIVE_WS). */
  readonly warningCode: string;
  /** Whether rank 0 listens on config.port itself (then port 0 is reported; not on a caller's server). */
  listensItself(config: C): boolean;
  /** Imports the backend's module (loadBackendModule) and returns its connect with this transport's options. */
  load(): Promise<(config: C, common: StarConnectOptions) => Promise<Communicator>>;
  /** Runs before connecting, inside the failure translation (tcp: a worker's coordinator name resolves). */
  prepare?(config: C): Promise<void>;
}

/** The common options, from a validated config; onListening only where rank 0 reports its port. */
function commonOptions(
  config: StarConfig,
  hooks: StartHooks,
  warningCode: string,
  onListening: ((address: { host: string; port: number }) => void) | undefined,
): StarConnectOptions {
  return {
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
    onWarning: (message) => hooks.onWarning(warningCode, message),
    onStallWarning: (message) => hooks.onWarning(STALL_WARNING_CODE, message),
    ...(onListening !== undefined ? { onListening } : {}),
  };
}

/** Starts a star transport from its config: the steps above, in order. */
export async function startStar<C extends StarConfig>(
  selected: C,
  hooks: StartHooks,
  transport: StarTransport<C>,
): Promise<Communicator> {
  const connect = await transport.load();
  // A re-init listens on the port rank 0 got the first time: the launcher relayed that one (§5.4).
  const config = withEarlierPort(selected);
  // A second init() while the first communicator of this group is open (§5.4): refused, not a port clash.
  refuseIfStillOpen(config);
  let listenedOn = config.port;
  const onListening =
    config.port === 0 && transport.listensItself(config)
      ? (address: { host: string; port: number }): void => {
          rememberEphemeralPort(config, address.port);
          listenedOn = address.port;
          hooks.onListening?.(address);
        }
      : undefined;
  try {
    await transport.prepare?.(config);
    const common = commonOptions(config, hooks, transport.warningCode, onListening);
    const comm = await joinAgain(config, () => connect(config, common));
    rememberOpen(config, comm, listenedOn);
    return comm;
  } catch (error) {
    throw tcpStartFailure(error, config);
  }
}
