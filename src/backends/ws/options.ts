/**
 * WsOptions and their validation (spec/backend-ws.md §9): the star protocol's options
 * (`../star/options.ts`) and its listen address (`../star/listen-address.ts`) — the same defaults,
 * address rules and refusal to listen beyond loopback without a token as tcp — plus where the
 * WebSocket is served or dialled. Bad settings fail before anything listens or dials, with
 * BackendError 'IncompatibleSettings' (`ws: …`) naming the field.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { BackendError } from '../../communicator/errors.js';
import {
  checkListenScope,
  resolveListenOptions,
  type ListenOptions,
  type ListenSettings,
} from '../star/listen-address.js';
import {
  checkGroup,
  checkOptionsObject,
  incompatible as starIncompatible,
  resolveStarOptions,
  type StarOptions,
} from '../star/options.js';
import { WS_MAX_PENDING_HANDSHAKES, WS_WARNING_CODE } from './limits.js';

/** The path a rank 0 attached to a caller's server serves when none is given. */
export const DEFAULT_WS_PATH = '/collective';

/** A worker gives up on one WebSocket upgrade that does not complete in this long (ms), then retries. */
export const WS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** TLS settings a worker uses to dial `wss://` (e.g. a private CA). */
export interface WsTlsOptions {
  readonly ca?: string | Buffer;
  readonly rejectUnauthorized?: boolean;
}

/**
 * The ws backend's options: the star protocol's and a listen address (host/port are the
 * coordinator's address, as for tcp), plus:
 * - `url` (ranks ≥ 1): rank 0's WebSocket URL (`ws://host:port/path` or `wss://…`); default
 *   `ws://host:port/` (or `…/path` when `path` is given). host/port may then be omitted.
 * - `server` (rank 0): serve on this http.Server/https.Server at `path` instead of listening itself.
 * - `path`: rank 0 serves only this path (default: every path standalone, DEFAULT_WS_PATH attached).
 * - `allowedOrigins` (rank 0): the origins whose pages may join (browser ranks); `'*'`: any page,
 *   only with a token or allowInsecure (else BackendError 'IncompatibleSettings').
 */
export interface WsOptions extends StarOptions, Omit<ListenOptions, 'host' | 'port'> {
  /** Coordinator address (default 127.0.0.1); rank 0 listens on it (or bindAddr) when standalone. */
  host?: string;
  /** Rank 0: 0 = ephemeral (reported through onListening). Ranks ≥ 1 without `url`: rank 0's port. */
  port?: number;
  url?: string;
  server?: HttpServer | HttpsServer;
  path?: string;
  allowedOrigins?: readonly string[];
  /** Ranks ≥ 1 dialling `wss://`: TLS settings passed to the WebSocket client. */
  tls?: WsTlsOptions;
}

/** The star settings plus where rank 0 serves and workers dial. */
export interface WsSettings extends ListenSettings {
  /** Ranks ≥ 1: the URL dialled. */
  url: string;
  /** Rank 0: the caller's server when attached, else null (standalone on bindAddr:port). */
  httpServer: HttpServer | HttpsServer | null;
  /** Rank 0: the path served (undefined: every path, standalone only). */
  path: string | undefined;
  allowedOrigins: readonly string[];
  tls: WsTlsOptions | undefined;
}

const DEFAULT_HOST = '127.0.0.1';

function incompatible(field: string, message: string, value: unknown, suggestion: string): BackendError {
  return starIncompatible('ws', field, message, value, suggestion);
}

function parseUrl(url: unknown): URL {
  let parsed: URL | null = null;
  try {
    parsed = typeof url === 'string' ? new URL(url) : null;
  } catch {
    parsed = null;
  }
  if (parsed === null || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
    throw incompatible(
      'url',
      `url must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`,
      url,
      "set COLLECTIVE_WS_URL (options.url) to rank 0's address, e.g. ws://10.0.0.1:29500/",
    );
  }
  return parsed;
}

function checkPath(path: unknown): string | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw incompatible(
      'path',
      `path must start with '/', got ${JSON.stringify(path)}`,
      path,
      "pass e.g. '/collective'",
    );
  }
  return path;
}

function checkOrigins(origins: unknown): readonly string[] {
  if (origins === undefined) return [];
  if (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string' || o === '')) {
    throw incompatible(
      'allowedOrigins',
      'allowedOrigins must be an array of origins',
      origins,
      "pass e.g. ['https://app.example:8443'], or ['*'] to allow any page",
    );
  }
  return origins as readonly string[];
}

/**
 * `'*'` lets any page the user visits open a link to rank 0; without a token that page is then
 * admitted as a rank (a loopback coordinator is reachable from every local browser tab), so it needs
 * a token, or allowInsecure as the explicit opt-out (§6).
 */
function checkAnyOrigin(settings: WsSettings): void {
  if (!settings.allowedOrigins.includes('*') || settings.token !== null || settings.allowInsecure) return;
  throw incompatible(
    'allowedOrigins',
    "allowedOrigins ['*'] without a token would let any web page the user visits join the group",
    settings.allowedOrigins,
    "list the pages' origins (e.g. ['https://app.example:8443']), set COLLECTIVE_TCP_TOKEN (options.token) on every rank, or pass allowInsecure: true",
  );
}

/**
 * An attached rank 0 serves wherever the caller's server listens: beyond loopback only with a token
 * or allowInsecure (§9.2). A server not listening yet cannot be checked, so it needs one of them.
 */
function checkAttachedScope(settings: WsSettings, server: HttpServer | HttpsServer): void {
  const bound = server.address();
  if (bound !== null && typeof bound === 'object') {
    checkListenScope('ws', 0, bound.address, settings);
    return;
  }
  if (typeof bound === 'string' || settings.token !== null || settings.allowInsecure) return;
  throw incompatible(
    'server',
    'the server is not listening yet, so its address cannot be checked, and there is no token',
    null,
    'call server.listen() before connectWs, set COLLECTIVE_TCP_TOKEN (options.token), or pass allowInsecure: true',
  );
}

export function resolveWsOptions(options: WsOptions): WsSettings {
  checkOptionsObject('ws', options, '{ rank, size, … }');
  const path = checkPath(options.path);
  const allowedOrigins = checkOrigins(options.allowedOrigins);
  const server = options.server ?? null;
  let host = options.host ?? DEFAULT_HOST;
  let port = options.port ?? (options.rank === 0 ? 0 : NaN);
  let url: URL | null = null;
  if (options.rank !== 0 && options.url !== undefined) {
    url = parseUrl(options.url);
    host = options.host ?? url.hostname.replace(/^\[(.*)\]$/, '$1');
    port = options.port ?? (url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port));
  }
  checkGroup('ws', options.rank, options.size);
  const star = resolveStarOptions({ backend: 'ws', warningCode: WS_WARNING_CODE }, options);
  const listen = resolveListenOptions('ws', star, {
    ...options,
    host,
    port,
    // Attached: the caller's server decides where it listens; checked in checkAttachedScope.
    ...(server !== null ? { host: DEFAULT_HOST, bindAddr: undefined } : {}),
  });
  const settings: WsSettings = {
    ...listen,
    maxPendingHandshakes: WS_MAX_PENDING_HANDSHAKES,
    url: url?.href ?? `ws://${hostForUrl(listen.host)}:${listen.port}${path ?? '/'}`,
    httpServer: server,
    path: server !== null ? (path ?? DEFAULT_WS_PATH) : path,
    allowedOrigins,
    tls: options.tls,
  };
  if (options.rank === 0) checkAnyOrigin(settings);
  if (server !== null && options.rank === 0) checkAttachedScope(settings, server);
  return settings;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
