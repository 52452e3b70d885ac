/**
 * The ws backend's configuration step (spec/selection.md §5.2, spec/backend-ws.md §9.4): tcp's
 * settings (coordinator host/port, bind address, token, job id, timeouts — the same variables and
 * defaults) plus where the WebSocket is served or dialled: `url` (COLLECTIVE_WS_URL) for ranks ≥ 1,
 * `server`/`path`/`allowedOrigins` for rank 0. A rank ≥ 1 with a url needs no coordinator; rank 0
 * attached to a server needs no coordinator either.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { SelectionWarning, TcpConfig } from './config.js';
import { noJobIdWarning, tcp, type Context, type SelectionInputs } from './configure.js';
import { VARIABLES } from './settings.js';
import { incompatible, parseText } from './values.js';

/** The validated config of a ws rank. */
export interface WsConfig extends Omit<TcpConfig, 'backend' | 'algorithm'> {
  readonly backend: 'ws';
  /** Ranks ≥ 1: rank 0's URL (absent: ws://host:port/ built from the coordinator). */
  readonly url?: string;
  /** Rank 0: serve on this http/https server instead of listening on host:port. */
  readonly server?: HttpServer | HttpsServer;
  /** Rank 0: the path served. */
  readonly path?: string;
  /** Rank 0: origins whose pages may join. */
  readonly allowedOrigins?: readonly string[];
}

/** The URL's host:port, as COLLECTIVE_TCP_COORDINATOR spells it (IPv6 bracketed). */
function coordinatorOf(source: string, url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw incompatible(source, url, 'a ws:// or wss:// URL such as ws://10.0.0.1:29500/');
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw incompatible(source, url, 'a ws:// or wss:// URL such as ws://10.0.0.1:29500/');
  }
  const port = parsed.port === '' ? (parsed.protocol === 'wss:' ? '443' : '80') : parsed.port;
  return `${parsed.hostname}:${port}`;
}

export function ws(context: Context): WsConfig {
  const { options, env } = context.inputs;
  const url =
    options.url !== undefined
      ? { value: parseText('options.url', options.url), source: 'options.url' }
      : env[VARIABLES.wsUrl] !== undefined
        ? { value: parseText(VARIABLES.wsUrl, env[VARIABLES.wsUrl]!), source: VARIABLES.wsUrl }
        : undefined;
  // A url names rank 0 for the others; an attached rank 0 listens where its server does.
  const coordinator =
    options.coordinator === undefined && url !== undefined
      ? coordinatorOf(url.source, url.value)
      : options.coordinator === undefined && options.server !== undefined && options.rank === 0
        ? '127.0.0.1:0'
        : undefined;
  const inner: Context =
    coordinator === undefined
      ? context
      : { ...context, inputs: { ...context.inputs, options: { ...options, coordinator } } };
  // ws has only the star: tcp's algorithm (read, so a bad value still fails) is not carried.
  const { backend: _tcp, algorithm: _algorithm, ...base } = tcp(inner);
  context.reasons.pop();
  context.reasons.push(
    `ws named explicitly → ws (rank 0 ${url ? `at ${url.value}` : `at ${base.host}:${base.port}`})`,
  );
  if (options.allowedOrigins !== undefined && !Array.isArray(options.allowedOrigins)) {
    throw incompatible(
      'options.allowedOrigins',
      options.allowedOrigins,
      "an array of origins, e.g. ['https://app.example']",
    );
  }
  return {
    ...base,
    backend: 'ws',
    ...(url !== undefined && base.rank !== 0 ? { url: url.value } : {}),
    ...(options.server !== undefined ? { server: options.server } : {}),
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.allowedOrigins !== undefined ? { allowedOrigins: options.allowedOrigins } : {}),
  };
}

/** §7: ws warns like tcp about a multi-rank job nothing names. */
export function wsWarnings(config: WsConfig, _inputs: SelectionInputs): SelectionWarning[] {
  return config.size > 1 && config.jobId === undefined ? [noJobIdWarning(config)] : [];
}
