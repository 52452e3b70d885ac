/**
 * Helpers for the WebSocket link tests: a listener on 127.0.0.1, a dialled pair of links (Node `ws`
 * link or the browser link with `ws`'s WebSocket injected), and a recorder of what a link delivers.
 */
import WebSocket from 'ws';
import { isDialError, type Dialer, type Link } from '../../../src/backends/link/link.js';
import { browserDialer, type WebSocketConstructor } from '../../../src/backends/ws/browser-link.js';
import { wsDialer } from '../../../src/backends/ws/ws-link.js';
import { WsListener, type WsServeOptions } from '../../../src/backends/ws/ws-listener.js';

export const MAX_PAYLOAD = 8 * 1024 * 1024;

export type ClientKind = 'ws' | 'browser';

export function dialerFor(kind: ClientKind, url: string, origin?: string): Dialer {
  if (kind === 'browser') return browserDialer(url, WebSocket as unknown as WebSocketConstructor);
  return wsDialer(url, { maxPayload: MAX_PAYLOAD, ...(origin === undefined ? {} : { origin }) });
}

/**
 * What a link delivered: chunks (copied; a browser link's are whole messages, a Node link's the
 * fragments of each message), and how it closed once it has.
 */
export class Recorder {
  readonly messages: Uint8Array[] = [];
  bytes = 0;
  #waiters: Array<() => void> = [];
  readonly closed: Promise<Error | null>;

  constructor(link: Link) {
    link.onData = (chunk) => {
      this.messages.push(Uint8Array.from(chunk));
      this.bytes += chunk.byteLength;
      for (const wake of this.#waiters.splice(0)) wake();
    };
    this.closed = new Promise((resolve) => (link.onClose = resolve));
  }

  /** Resolves once `total` bytes have arrived (a Node link hands a big message up in slices). */
  async received(total: number): Promise<Buffer> {
    const sum = (): number => this.messages.reduce((n, m) => n + m.byteLength, 0);
    while (sum() < total) await new Promise<void>((wake) => this.#waiters.push(wake));
    return Buffer.concat(this.messages);
  }

  /** Resolves once `count` messages have arrived. */
  async count(count: number): Promise<void> {
    while (this.messages.length < count) await new Promise<void>((wake) => this.#waiters.push(wake));
  }

  /** Resolves once `total` bytes have arrived. */
  async countBytes(total: number): Promise<void> {
    while (this.bytes < total) await new Promise<void>((wake) => this.#waiters.push(wake));
  }
}

export interface Pair {
  listener: WsListener;
  server: Link;
  client: Link;
  close(): void;
}

export async function listen(options: Partial<WsServeOptions> = {}): Promise<WsListener> {
  return WsListener.listen({ host: '127.0.0.1', port: 0, maxPayload: MAX_PAYLOAD, ...options });
}

/** A listener on an ephemeral port and one link dialled to it, both ends. */
export async function pair(kind: ClientKind, options: Partial<WsServeOptions> = {}): Promise<Pair> {
  const listener = await listen(options);
  const accepted = new Promise<Link>((resolve) => (listener.onLink = resolve));
  const dialled = await dialerFor(kind, `ws://127.0.0.1:${listener.port}/`)();
  if (isDialError(dialled)) throw new Error(dialled.message);
  const server = await accepted;
  return {
    listener,
    server,
    client: dialled,
    close: () => {
      server.destroy();
      dialled.destroy();
      listener.close();
    },
  };
}

export function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

export function concat(pieces: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(pieces));
}
