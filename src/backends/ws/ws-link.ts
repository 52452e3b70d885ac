/**
 * The WebSocket link on Node (spec/backend-ws.md §2–§4, §7): a `ws` WebSocket behind the link
 * interface. Each `write()` batch is one binary message, so a message always holds whole frames;
 * received messages are handed up whole. `wsDialer` is a worker's single attempt to reach rank 0;
 * the listener side is `ws-listener.ts`.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { formatHostPort } from '../../communicator/host-address.js';
import type { Dialer, DialError, Link } from '../link/link.js';
import { classifyDial, closeError, MAX_QUOTED_BODY_CHARS, WsLinkError } from './ws-errors.js';

/** Rank 0 pings each link this often (ms) and checks it for signs of life (spec/backend-ws.md §4). */
export const KEEPALIVE_INTERVAL_MS = 250;
/** A link silent this long (ms: no pong, no message, no write taken) is destroyed (§4). */
export const KEEPALIVE_SILENCE_MS = 1500;
/** A vanished peer is detected within this bound (ms): the silence limit plus one check interval. */
export const KEEPALIVE_DETECTION_BOUND_MS = KEEPALIVE_SILENCE_MS + KEEPALIVE_INTERVAL_MS;

/** How a listener keeps its links alive: ping interval and silence limit, in ms (§4). */
export interface KeepaliveOptions {
  readonly intervalMs: number;
  readonly silenceMs: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveOptions = {
  intervalMs: KEEPALIVE_INTERVAL_MS,
  silenceMs: KEEPALIVE_SILENCE_MS,
};

const NO_DATA = Buffer.alloc(0);

/** A received message is handed up in slices of at most this many bytes, as a TCP read would be. */
export const DELIVERY_SLICE_BYTES = 64 * 1024;

/** TCP keepalive probes start after this much idle time (ms), as on tcp's links. */
export const TCP_KEEPALIVE_IDLE_MS = 10_000;

/**
 * A Node rank masks its messages with the all-zero key (spec/backend-ws.md §2.1): RFC 6455's
 * masking protects intermediaries from a hostile page's script choosing the bytes on the wire; a
 * Node rank is no such script, and with a zero key `ws` skips masking on send and unmasking on
 * receive (each a pass over every byte in JavaScript without the native bufferutil).
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * Pieces at least this large (bytes) leave as their own fragment of the batch's message, by
 * reference; smaller runs are joined into one fragment (spec/backend-ws.md §2). A message then has
 * at most 3 · maxPayload / FRAGMENT_MIN_BYTES + 1 fragments (1537 for the 8 MiB limit), far below
 * the receiver's `maxFragments` (16 384).
 */
export const FRAGMENT_MIN_BYTES = 16 * 1024;
/**
 * Large pieces are cut into fragments of at most this many bytes (views, no copy): `ws`'s receiver
 * hands a fragment lying inside one 64 KiB socket read up as a view, and copies only those that
 * straddle reads, instead of copying every 256 KiB chunk into a fresh buffer (§2).
 */
export const FRAGMENT_MAX_BYTES = 16 * 1024;

/**
 * One batch as the fragments of one message: runs of small pieces joined (one copy of few bytes),
 * large pieces as they are (no copy of array data).
 */
function toFragments(pieces: readonly Uint8Array[]): Uint8Array[] {
  const fragments: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  const flushRun = (): void => {
    if (run.length === 1) fragments.push(run[0]!);
    else if (run.length > 1) fragments.push(Buffer.concat(run));
    run = [];
  };
  for (const piece of pieces) {
    if (piece.byteLength >= FRAGMENT_MIN_BYTES) {
      flushRun();
      for (let at = 0; at < piece.byteLength; at += FRAGMENT_MAX_BYTES) {
        fragments.push(piece.subarray(at, Math.min(piece.byteLength, at + FRAGMENT_MAX_BYTES)));
      }
    } else if (piece.byteLength > 0) {
      run.push(piece);
    }
  }
  flushRun();
  return fragments;
}

/** The error `ws` reported, as a WsLinkError that says what to do about it. */
function fromWsError(peer: string, error: Error & { code?: string }): WsLinkError {
  if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new WsLinkError(
      `WebSocket link to ${peer}: received a message over this side's maxPayload (${error.message}); both sides must use the same frame limit`,
      error.code,
      1009,
    );
  }
  return new WsLinkError(`WebSocket link to ${peer}: ${error.message}`, error.code ?? 'WS_ERROR');
}

/**
 * A `ws` WebSocket as a link (spec/backend-ws.md §2). `socket`: the underlying TCP socket, from the
 * upgrade request (`req.socket`) or response (`res.socket`) — public API — for ref()/unref().
 * Messages that arrive while paused (ws may still emit the ones it has parsed) wait in a queue.
 */
export class WsLink implements Link {
  onData: (chunk: Uint8Array, borrowed: boolean) => void = () => {};
  onClose: (error: Error | null) => void = () => {};
  readonly remoteAddress: string;
  readonly remoteHost: string;
  #closed = false;
  #ending = false;
  #error: Error | null = null;
  #paused = false;
  readonly #held: Buffer[] = [];
  #heard = true;
  #keepalive: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket | null,
    /** The largest batch one write() may carry (bytes): the maxPayload both sides use (§5). */
    readonly maxBatchBytes: number,
  ) {
    // A Node peer is not pinged (§4): TCP keepalive notices its host vanishing, as for tcp.
    socket?.setKeepAlive(true, TCP_KEEPALIVE_IDLE_MS);
    const host = socket?.remoteAddress ?? '?';
    this.remoteHost = host;
    this.remoteAddress = socket?.remotePort === undefined ? host : formatHostPort(host, socket.remotePort);
    // A message's fragments are handed up as they arrived: ws would otherwise join them (a copy).
    ws.binaryType = 'fragments';
    ws.on('message', (data: Buffer[] | Buffer, isBinary: boolean) => this.#receive(data, isBinary));
    ws.on('pong', () => (this.#heard = true));
    ws.on('error', (error) => (this.#error ??= fromWsError(this.remoteAddress, error)));
    ws.on('close', (code: number, reason: Buffer) => {
      this.#report(this.#error ?? closeError(this.remoteAddress, code, reason.toString()));
    });
  }

  write(pieces: readonly Uint8Array[], done?: () => void): void {
    if (!this.writable) return;
    const fragments = toFragments(pieces);
    const sent = (): void => {
      this.#heard = true;
      if (!this.#closed) done?.();
    };
    if (fragments.length <= 1) {
      this.ws.send(fragments[0] ?? NO_DATA, { binary: true }, sent);
      return;
    }
    // Corked: every fragment's header and bytes leave in one writev (ws corks each frame alone).
    this.socket?.cork();
    const last = fragments.length - 1;
    for (let f = 0; f < last; f++) this.ws.send(fragments[f]!, { binary: true, fin: false });
    this.ws.send(fragments[last]!, { binary: true, fin: true }, sent);
    this.socket?.uncork();
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get writable(): boolean {
    return !this.#closed && !this.#ending && this.ws.readyState === WebSocket.OPEN;
  }

  pause(): void {
    this.#paused = true;
    this.ws.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#heard = true; // keepalive's silence clock restarts: pongs sat unread while paused (§4)
    this.ws.resume();
    if (this.#held.length > 0) queueMicrotask(() => this.#release());
  }

  ref(): void {
    this.socket?.ref();
  }

  unref(): void {
    this.socket?.unref();
  }

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    this.ws.close(1000);
  }

  destroy(error?: Error): void {
    if (this.#closed) return;
    this.ws.terminate();
    this.#report(error ?? null);
  }

  /**
   * Pings every `intervalMs` and destroys the link once nothing (pong, message, write taken by the
   * kernel) was heard for `silenceMs` (spec/backend-ws.md §4). Rank 0's listener starts it. The
   * check is suspended while paused: a held link reads nothing, pongs included, and a held rank is
   * never the one a round waits on (spec/backend-tcp.md §5.4(2)).
   */
  keepAlive({ intervalMs, silenceMs }: KeepaliveOptions): void {
    let lastHeard = Date.now();
    this.#keepalive = setInterval(() => {
      const now = Date.now();
      if (this.#heard || this.#paused) lastHeard = now;
      this.#heard = false;
      if (now - lastHeard >= silenceMs) {
        const error = new WsLinkError(
          `WebSocket link to ${this.remoteAddress}: no pong or data for ${now - lastHeard} ms (limit ${silenceMs} ms): the peer vanished (closed tab, lost network, stopped process)`,
          'WS_PING_TIMEOUT',
        );
        this.destroy(error);
        return;
      }
      if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
    }, intervalMs);
    this.#keepalive.unref();
  }

  #receive(data: Buffer[] | Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    this.#heard = true;
    if (!isBinary) {
      this.destroy(
        new WsLinkError(
          `WebSocket link to ${this.remoteAddress}: the peer sent a text message; the collective protocol uses binary messages only`,
          'WS_TEXT_MESSAGE',
          1003,
        ),
      );
      return;
    }
    // Fragments (binaryType 'fragments') or a whole message; held in order, released in slices.
    const wasEmpty = this.#held.length === 0;
    for (const fragment of Array.isArray(data) ? data : [data]) {
      if (fragment.byteLength > 0) this.#held.push(fragment);
    }
    if (!this.#paused && wasEmpty && this.#held.length > 0) this.#release();
  }

  /**
   * Delivers held messages in slices of at most DELIVERY_SLICE_BYTES, checking pause() between
   * slices: a message may hold up to maxPayload bytes of small frames (Begins), and the receiver
   * must be able to stop after a slice as it does after a TCP read (spec/backend-ws.md §2).
   */
  #release(): void {
    while (!this.#paused && !this.#closed && this.#held.length > 0) {
      const head = this.#held[0]!;
      if (head.byteLength <= DELIVERY_SLICE_BYTES) {
        this.#held.shift();
        this.onData(head, false);
      } else {
        this.#held[0] = head.subarray(DELIVERY_SLICE_BYTES);
        this.onData(head.subarray(0, DELIVERY_SLICE_BYTES), false);
      }
    }
  }

  #report(error: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.#held.length = 0;
    this.onClose(error);
  }
}

/** How a worker dials rank 0 over WebSocket. */
export interface WsDialOptions {
  /** Largest message accepted (bytes): the frame limit (spec/backend-ws.md §5). */
  readonly maxPayload: number;
  /** Sent as the Origin header (a Node rank normally sends none; tests use it to act as a page). */
  readonly origin?: string;
  /** Gives up on an upgrade that does not complete in this many ms ('other'). */
  readonly handshakeTimeoutMs?: number;
  /** TLS settings for `wss://` (e.g. a private CA); passed to `ws`. */
  readonly tls?: { readonly ca?: string | Buffer; readonly rejectUnauthorized?: boolean };
}

/** Reads at most MAX_QUOTED_BODY_CHARS of a refused upgrade's body (the listener explains itself there). */
function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      body += chunk;
      if (body.length >= MAX_QUOTED_BODY_CHARS) res.destroy();
    });
    res.on('close', () => resolve(body.trim()));
    res.on('error', () => resolve(body.trim()));
  });
}

/**
 * A worker's dialer for `url` (`ws://host:port/path` or `wss://…`): each call is one attempt that
 * resolves to a WsLink or to a DialError (spec/backend-ws.md §7); it never rejects.
 */
export function wsDialer(url: string, options: WsDialOptions): Dialer {
  return (signal) =>
    new Promise<Link | DialError>((resolve) => {
      let socket: Socket | null = null;
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, {
          perMessageDeflate: false,
          maxPayload: options.maxPayload,
          generateMask: zeroMask,
          ...(options.origin === undefined ? {} : { origin: options.origin }),
          ...(options.handshakeTimeoutMs === undefined
            ? {}
            : { handshakeTimeout: options.handshakeTimeoutMs }),
          ...options.tls,
        });
      } catch (error) {
        resolve({ failure: 'other', code: 'WS_BAD_URL', message: `${url}: ${(error as Error).message}` });
        return;
      }
      const onError = (error: Error & { code?: string }): void => {
        resolve(classifyDial(url, { errno: error.code, message: error.message }));
      };
      ws.on('error', onError);
      const abandon = (): void => ws.terminate();
      signal?.addEventListener('abort', abandon, { once: true });
      ws.once('open', () => signal?.removeEventListener('abort', abandon));
      ws.on('upgrade', (res: IncomingMessage) => (socket = res.socket as Socket));
      ws.on('unexpected-response', (req, res: IncomingMessage) => {
        void readBody(res).then((body) => {
          req.destroy();
          resolve(classifyDial(url, { status: res.statusCode, message: res.statusMessage ?? '', body }));
        });
      });
      ws.on('open', () => {
        ws.off('error', onError);
        resolve(new WsLink(ws, socket, options.maxPayload));
      });
    });
}
