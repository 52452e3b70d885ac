/**
 * The WebSocket link in a browser (spec/backend-ws.md §2, §8): the page's own `WebSocket` behind the
 * link interface. No `node:` import and no `ws` import, so it bundles for a page; in Node 22+ it runs
 * on the global WebSocket, and tests on Node 20 inject `ws`'s WebSocket class instead.
 *
 * A browser's WebSocket has no send callback, but send() copies the bytes it is given (WHATWG
 * WebSockets): a batch's `done` runs on a microtask after its send(), in order. Waiting for
 * `bufferedAmount` to drain would need a timer poll, which background tabs throttle to ≥ 1 s;
 * `bufferedAmount` is only reported, as `bufferedBytes` (spec/backend-ws.md §8).
 */
import type { Dialer, DialError, Link } from '../link/link.js';
import { WS_MAX_MESSAGE_BYTES } from './limits.js';
import { classifyDial, closeError, WsLinkError } from './ws-errors.js';

const OPEN = 1;
/** The close code of destroy(): the first application code (4000–4999), read by the peer as a failure. */
export const DESTROY_CLOSE_CODE = 4000;
/** Its reason (a close reason is at most 123 bytes). */
const DESTROY_CLOSE_REASON = 'the page destroyed its link';

/** The part of the WHATWG WebSocket this link uses (the browser's, Node 22's global one, or `ws`'s). */
export interface BrowserWebSocket {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly url: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `ws`'s class in Node 20 tests. */
export type WebSocketConstructor = new (url: string) => BrowserWebSocket;

interface MessageEventLike {
  readonly data: unknown;
}
interface CloseEventLike {
  readonly code: number;
  readonly reason: string;
}
/** `ws`'s and Node's ErrorEvent carry the underlying error; a browser's carries nothing. */
interface ErrorEventLike {
  readonly error?: { code?: string; message?: string };
  readonly message?: string;
}

/** One batch as one message: browsers take one view per send(). */
function toMessage(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  let total = 0;
  for (const piece of pieces) total += piece.byteLength;
  const message = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    message.set(piece, at);
    at += piece.byteLength;
  }
  return message;
}

/** The peer as named in messages: the URL's host (`host:port`, IPv6 bracketed). */
function hostOf(url: string): { address: string; host: string } {
  try {
    const parsed = new URL(url);
    return { address: parsed.host, host: parsed.hostname.replace(/^\[|\]$/g, '') || '?' };
  } catch {
    return { address: url, host: '?' };
  }
}

export class BrowserLink implements Link {
  onData: (chunk: Uint8Array, borrowed: boolean) => void = () => {};
  onClose: (error: Error | null) => void = () => {};
  readonly remoteAddress: string;
  readonly remoteHost: string;
  /** One write() is one message: at most the listener's maxPayload (spec/backend-ws.md §5). */
  readonly maxBatchBytes = WS_MAX_MESSAGE_BYTES;
  #closed = false;
  #ending = false;
  #paused = false;
  readonly #held: Uint8Array[] = [];
  #error: Error | null = null;

  constructor(private readonly ws: BrowserWebSocket) {
    const { address, host } = hostOf(ws.url);
    this.remoteAddress = address;
    this.remoteHost = host;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (event: MessageEventLike) => this.#receive(event.data));
    ws.addEventListener('error', (event: ErrorEventLike) => {
      const why = event.error?.message ?? event.message ?? 'the browser gives no reason';
      this.#error ??= new WsLinkError(
        `WebSocket link to ${address}: ${why}`,
        event.error?.code ?? 'WS_ERROR',
      );
    });
    ws.addEventListener('close', (event: CloseEventLike) => {
      this.#report(this.#error ?? closeError(address, event.code, event.reason));
    });
  }

  write(pieces: readonly Uint8Array[], done?: () => void): void {
    if (!this.writable) return;
    const message = toMessage(pieces);
    this.ws.send(message);
    // send() has copied the batch: the caller may reuse it. Microtasks keep the dones in order.
    if (done) queueMicrotask(() => !this.#closed && done());
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get writable(): boolean {
    return !this.#closed && !this.#ending && this.ws.readyState === OPEN;
  }

  /** Received messages wait in a queue until resume(); the browser gives no way to stop reading. */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    if (this.#held.length > 0) queueMicrotask(() => this.#release());
  }

  /** No event loop to hold in a page. */
  ref(): void {}
  unref(): void {}

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    this.ws.close(1000);
  }

  /**
   * A browser cannot drop queued bytes: it closes with DESTROY_CLOSE_CODE (so rank 0 sees a failure,
   * not a clean end) and reports `error` here at once.
   */
  destroy(error?: Error): void {
    if (this.#closed) return;
    this.ws.close(DESTROY_CLOSE_CODE, DESTROY_CLOSE_REASON);
    this.#report(error ?? null);
  }

  #receive(data: unknown): void {
    if (this.#closed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.destroy(
        new WsLinkError(
          `WebSocket link to ${this.remoteAddress}: the peer sent a text message; the collective protocol uses binary messages only`,
          'WS_TEXT_MESSAGE',
          1003,
        ),
      );
      return;
    }
    if (data.byteLength === 0) return;
    const chunk = new Uint8Array(data);
    if (this.#paused || this.#held.length > 0) this.#held.push(chunk);
    else this.onData(chunk, false);
  }

  #release(): void {
    while (!this.#paused && !this.#closed && this.#held.length > 0) this.onData(this.#held.shift()!, false);
  }

  #report(error: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held.length = 0;
    this.onClose(error);
  }
}

/**
 * A dialer for `url` with the page's WebSocket (or `WebSocketClass`): one attempt per call, resolving
 * to a BrowserLink or a DialError; never rejects. A browser hides why a connection failed (refused,
 * 404, 403 and TLS all look alike), so those are 'other' with code WS_CONNECT_FAILED; `ws`'s class
 * in Node exposes the cause and gets the same classes as wsDialer (spec/backend-ws.md §7).
 */
export function browserDialer(url: string, WebSocketClass?: WebSocketConstructor): Dialer {
  return (signal) =>
    new Promise<Link | DialError>((resolve) => {
      const Construct =
        WebSocketClass ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? undefined;
      if (Construct === undefined) {
        resolve({
          failure: 'other',
          code: 'WS_UNAVAILABLE',
          message: 'no global WebSocket here (Node 20): pass a WebSocket class, or use wsDialer on Node',
        });
        return;
      }
      let ws: BrowserWebSocket;
      try {
        ws = new Construct(url);
      } catch (error) {
        resolve({ failure: 'other', code: 'WS_BAD_URL', message: `${url}: ${(error as Error).message}` });
        return;
      }
      let opened = false;
      // Given up: a page's WebSocket has no connect timeout of its own and would stay CONNECTING.
      signal?.addEventListener('abort', () => opened || ws.close(), { once: true });
      ws.addEventListener('open', () => {
        opened = true;
        resolve(new BrowserLink(ws));
      });
      ws.addEventListener('error', (event: ErrorEventLike) => {
        if (opened) return;
        const cause = event.error;
        if (cause?.code !== undefined || /\d{3}/.test(cause?.message ?? '')) {
          resolve(classifyDial(url, { errno: cause?.code, message: cause?.message ?? '' }));
        } else {
          resolve({
            failure: 'other',
            code: 'WS_CONNECT_FAILED',
            message: `${url}: the WebSocket did not open (${cause?.message ?? event.message ?? 'the browser gives no reason'}); check that rank 0 serves this URL and allows this page's origin`,
          });
        }
      });
    });
}
