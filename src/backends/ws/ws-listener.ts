/**
 * Rank 0's WebSocket side (spec/backend-ws.md §3–§6): a LinkListener that either serves on its own
 * host:port or attaches to the caller's http.Server/https.Server on one path, leaving every other
 * request and path to that server. It checks browsers' Origin, caps messages at maxPayload and keeps
 * each accepted link alive with pings.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { formatHostPort } from '../../communicator/host-address.js';
import type { Link, LinkListener } from '../link/link.js';
import { WsLinkError } from './ws-errors.js';
import { DEFAULT_KEEPALIVE, type KeepaliveOptions, WsLink } from './ws-link.js';

/** What both ways of serving take. */
export interface WsServeOptions {
  /** Largest message accepted (bytes): the frame limit; a bigger one closes the link with 1009 (§5). */
  readonly maxPayload: number;
  /**
   * Origins (`https://host:port`) whose pages may connect; a request with an Origin header not in the
   * list gets HTTP 403 (§6). No Origin header (a Node rank) is always allowed. `'*'` allows any
   * page. Default: none (browser ranks must be allowed explicitly).
   */
  readonly allowedOrigins?: readonly string[];
  /** Per-message deflate (default false: the payload is mostly numbers, and it costs latency). */
  readonly perMessageDeflate?: boolean;
  /**
   * Ping interval and silence limit for links whose upgrade carried an Origin header (browser
   * pages; default DEFAULT_KEEPALIVE), or false for none (§4). Links without Origin are not pinged.
   */
  readonly keepalive?: KeepaliveOptions | false;
}

/** Serving on a host:port of its own. `port` 0 asks for an ephemeral port (read it from `port`). */
export interface WsListenOptions extends WsServeOptions {
  readonly host: string;
  readonly port: number;
  /** Only this path is served (other paths get 404); default: every path. */
  readonly path?: string;
}

/** Serving on the caller's server, on one path (e.g. `/collective`). */
export interface WsAttachOptions extends WsServeOptions {
  readonly server: HttpServer | HttpsServer;
  readonly path: string;
}

/** Body of the 426 answer to a plain HTTP request on a standalone listener. */
const UPGRADE_REQUIRED = 'this port serves a collective WebSocket coordinator; connect with a WebSocket';

function normaliseOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/**
 * The request target's path (up to the first '?', compared as a string), or null when the target is
 * not an origin-form path a URL parser accepts (`//[`, `//x:99999`, `*`…). Never throws: this runs
 * in the server's 'upgrade' handler, where an exception would take down the whole process (§3).
 */
function pathOf(req: IncomingMessage): string | null {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return null;
  try {
    new URL(target, 'http://localhost');
  } catch {
    return null;
  }
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Answers an upgrade with an HTTP error and closes the connection once the answer is written. */
function refuseUpgrade(socket: Duplex, status: '400 Bad Request' | '404 Not Found', body: string): void {
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

export class WsListener implements LinkListener {
  onLink: (link: Link) => void = () => {};
  readonly #wss: WebSocketServer;
  readonly #onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

  private constructor(
    private readonly server: HttpServer | HttpsServer,
    private readonly path: string | undefined,
    private readonly owned: boolean,
    options: WsServeOptions,
  ) {
    const allowed = (options.allowedOrigins ?? []).map(normaliseOrigin);
    const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: options.maxPayload,
      perMessageDeflate: options.perMessageDeflate ?? false,
      verifyClient: ({ origin }: { origin?: string }, allow) => {
        if (origin === undefined || allowed.includes('*') || allowed.includes(normaliseOrigin(origin))) {
          return allow(true);
        }
        const list = allowed.length === 0 ? 'none (browser ranks need allowedOrigins)' : allowed.join(', ');
        allow(false, 403, `origin ${origin} is not allowed; allowed origins: ${list}`);
      },
    });
    this.#wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      const link = new WsLink(ws, req.socket as Socket, options.maxPayload);
      // Pings only for pages (an upgrade with an Origin header): a tab can vanish without a FIN. A
      // Node rank may block its event loop for seconds between collectives, so it is not pinged;
      // TCP keepalive covers its host vanishing, as for tcp (spec/backend-ws.md §4).
      if (keepalive && req.headers.origin !== undefined) link.keepAlive(keepalive);
      this.onLink(link);
    });
    this.#onUpgrade = (req, socket, head) => {
      const path = pathOf(req);
      const served = path !== null && (this.path === undefined || path === this.path);
      if (served) this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
      // Other paths belong to the caller's server; with no other upgrade listener, nobody would answer.
      else if (server.listenerCount('upgrade') > 1) return;
      else if (path === null) refuseUpgrade(socket, '400 Bad Request', 'unparsable request target');
      else refuseUpgrade(socket, '404 Not Found', `no WebSocket is served on ${path}`);
    };
    server.on('upgrade', this.#onUpgrade);
  }

  /** Serves on host:port; rejects with a WsLinkError (code EADDRINUSE…) when it cannot listen. */
  static listen(options: WsListenOptions): Promise<WsListener> {
    const server = createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' }).end(UPGRADE_REQUIRED);
    });
    return new Promise((resolve, reject) => {
      const where = formatHostPort(options.host, options.port);
      server.once('error', (error: NodeJS.ErrnoException) => {
        const advice =
          error.code === 'EADDRINUSE'
            ? ': another process listens there; stop it, choose another port, or use port 0'
            : '';
        reject(
          new WsLinkError(
            `cannot serve WebSocket on ${where}: ${error.message}${advice}`,
            error.code ?? 'WS_LISTEN',
          ),
        );
      });
      server.listen(options.port, options.host, () =>
        resolve(new WsListener(server, options.path, true, options)),
      );
    });
  }

  /** Serves on `path` of the caller's server (listening or not); everything else stays the caller's. */
  static attach(options: WsAttachOptions): WsListener {
    return new WsListener(options.server, options.path, false, options);
  }

  get port(): number | null {
    if (!this.owned) return null;
    return (this.server.address() as AddressInfo | null)?.port ?? null;
  }

  /** The host the standalone server really bound (null when attached to a caller's server). */
  get boundHost(): string | null {
    if (!this.owned) return null;
    const bound = this.server.address() as AddressInfo | string | null;
    return bound === null || typeof bound === 'string' ? null : bound.address;
  }

  get address(): string {
    const scheme = this.server instanceof HttpsServer ? 'wss' : 'ws';
    const bound = this.server.address() as AddressInfo | string | null;
    const path = this.path ?? '/';
    if (bound === null || typeof bound === 'string') return `${path} on the caller's server`;
    return `${scheme}://${formatHostPort(bound.address, bound.port)}${path}`;
  }

  unref(): void {
    if (this.owned) this.server.unref();
  }

  close(): void {
    this.server.off('upgrade', this.#onUpgrade);
    this.#wss.close();
    if (this.owned) this.server.close();
  }
}
