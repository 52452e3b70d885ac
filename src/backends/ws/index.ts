/**
 * The ws backend (spec/backend-ws.md §9): the star protocol (`../star/`) over WebSocket links.
 * Rank 0 serves WebSocket on its own host:port or on a path of the caller's http/https server;
 * ranks 1…R-1 (Node processes here, browser tabs through the browser entry) dial its URL. This
 * module is its whole Node surface.
 */
import type { Communicator } from '../../communicator/communicator.js';
import { BackendError } from '../../communicator/errors.js';
import { formatHostPort } from '../../communicator/host-address.js';
import { coordinateGroup, joinAsWorker } from '../star/formation.js';
import { checkBoundAddress } from '../star/listen-address.js';
import { WS_MAX_MESSAGE_BYTES } from './limits.js';
import { resolveWsOptions, WS_HANDSHAKE_TIMEOUT_MS, type WsOptions, type WsSettings } from './options.js';
import { wsDialer } from './ws-link.js';
import { WsListener } from './ws-listener.js';
import type { WsLinkError } from './ws-errors.js';

export type { WsOptions, WsTlsOptions } from './options.js';
export { DEFAULT_WS_PATH } from './options.js';
export { WS_MAX_MESSAGE_BYTES } from './limits.js';

/** Rejects with BackendError 'InitializationFailed' when it cannot listen (as tcp's listenNet). */
async function serve(settings: WsSettings): Promise<WsListener> {
  const common = { maxPayload: WS_MAX_MESSAGE_BYTES, allowedOrigins: settings.allowedOrigins };
  if (settings.httpServer !== null) {
    return WsListener.attach({ ...common, server: settings.httpServer, path: settings.path as string });
  }
  const where = { host: settings.bindAddr, port: settings.port };
  return WsListener.listen({
    ...common,
    ...where,
    ...(settings.path === undefined ? {} : { path: settings.path }),
  }).catch((error: WsLinkError) => {
    throw new BackendError(
      'InitializationFailed',
      `ws: rank 0 cannot listen on ${formatHostPort(where.host, where.port)} (${error.code})`,
      { address: where.host, port: where.port, errno: error.code },
      error.code === 'EADDRINUSE'
        ? `port ${where.port} is taken (by another job's rank 0?): give each job its own COLLECTIVE_TCP_PORT (MASTER_PORT), or port 0 for an ephemeral one`
        : 'check bindAddr: it must be an address of this machine',
    );
  });
}

/**
 * Forms the group and resolves with this rank's communicator once every rank has joined.
 * Rejects with BackendError 'IncompatibleSettings' (bad options, rank 0 beyond loopback without a
 * token) or 'InitializationFailed' (rank 0 unreachable, upgrade or handshake refused, the group not
 * formed within connectTimeoutSecs). spec/backend-ws.md §9.
 */
export async function connectWs(options: WsOptions): Promise<Communicator> {
  const settings = resolveWsOptions(options);
  if (settings.rank > 0) {
    return joinAsWorker(settings, {
      address: settings.url,
      dial: wsDialer(settings.url, {
        maxPayload: WS_MAX_MESSAGE_BYTES,
        handshakeTimeoutMs: WS_HANDSHAKE_TIMEOUT_MS,
        ...(settings.tls === undefined ? {} : { tls: settings.tls }),
      }),
    });
  }
  const listener = await serve(settings);
  return coordinateGroup(settings, listener, () => {
    // Attached: the caller's server was checked before serving (options.ts, checkAttachedScope).
    if (settings.httpServer !== null) return;
    const bound = listener.boundHost ?? settings.bindAddr;
    checkBoundAddress('ws', settings, bound, false);
    settings.onListening({ host: bound, port: listener.port as number });
  });
}
