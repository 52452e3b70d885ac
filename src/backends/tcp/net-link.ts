/**
 * The star protocol's link over `net.Socket` (spec/backend-tcp.md §11.2): NetLink (one TCP
 * connection, TCP_NODELAY, keepalive, reads into one reused buffer), NetListener (rank 0's listening
 * server, its own or one adopted from options.server; its accepted sockets read into a reused buffer
 * too) and the net dialer, which classifies a failed connect for the worker's retry loop.
 */
import { connect, createServer, Socket, type Server } from 'node:net';
import { BackendError } from '../../communicator/errors.js';
import { formatHostPort } from '../../communicator/host-address.js';
import type { DialError, DialFailure, Dialer, Link, LinkListener } from '../link/link.js';
import type { TcpSettings } from './options.js';

/** TCP keepalive probes start after this much idle time (ms), so a vanished peer host is noticed. */
export const KEEPALIVE_IDLE_MS = 10_000;

/**
 * Bytes a socket reads at once into its reused buffer (`onread`), per link (spec/performance.md §7):
 * one read syscall and one callback per MiB instead of 16, and no fresh memory per read — on this
 * machine a fresh page costs ~20 µs to fault in, which made Node's own 64 KiB-per-read allocation
 * the floor of a large message. Rank 0 holds one such buffer per worker.
 */
export const STATIC_READ_BYTES = 1024 * 1024;

/**
 * Reading into one reused buffer (net's `onread` option) instead of a fresh buffer per read: no
 * allocation per read on the hot path; chunks are delivered `borrowed`. Create it before the socket,
 * pass `options` to connect (or the StaticReads to adoptAccepted).
 */
export class StaticReads {
  deliver: (chunk: Buffer) => void = () => {};
  readonly options: { buffer: Uint8Array; callback: (bytes: number, buffer: Uint8Array) => boolean };

  /** `bytes`: the buffer's size; its pages become resident only as reads first fill them. */
  constructor(readonly bytes: number = STATIC_READ_BYTES) {
    this.options = {
      buffer: Buffer.allocUnsafe(bytes),
      callback: (count: number, buffer: Uint8Array): boolean => {
        this.deliver(Buffer.from(buffer.buffer, buffer.byteOffset, count));
        return true;
      },
    };
  }
}

/** What adoptAccepted touches of net's internals (stable since Node 12; checked before use). */
interface AcceptedInternals {
  _handle: { readStop(): number; reading: boolean; useUserBuffer?: unknown } | null;
  _server: Server | null;
  server: Server | null;
}

/**
 * An accepted socket as a NetLink that reads into `reads` (Node 20 offers `onread` only to sockets
 * it connects): inside the server's synchronous 'connection' event nothing has been read yet, so the
 * socket's handle moves into a new Socket made with `onread`, and the old object is left without one.
 * Falls back to the socket as it is ('data' events, owned chunks) when net's internals differ.
 */
export function adoptAccepted(accepted: Socket, reads: StaticReads | null): NetLink {
  const old = accepted as unknown as AcceptedInternals;
  const handle = old._handle;
  if (!reads || !handle || typeof handle.useUserBuffer !== 'function' || accepted.destroyed) {
    return new NetLink(accepted);
  }
  handle.readStop();
  handle.reading = false;
  const server = old._server;
  old._handle = null;
  old._server = null;
  const socket = new Socket({
    handle,
    onread: reads.options,
    allowHalfOpen: accepted.allowHalfOpen,
  } as ConstructorParameters<typeof Socket>[0]);
  // The server counts its connections and decrements on the socket's destroy: the new one's now.
  (socket as unknown as AcceptedInternals)._server = server;
  (socket as unknown as AcceptedInternals).server = server;
  return new NetLink(socket, reads);
}

/** One TCP connection as a Link. `reads`: the socket was connected with `reads.options` (onread). */
export class NetLink implements Link {
  onData: (chunk: Uint8Array, borrowed: boolean) => void = () => {};
  onClose: (error: Error | null) => void = () => {};
  readonly remoteAddress: string;
  readonly remoteHost: string;
  readonly localHost: string | undefined;

  constructor(
    readonly socket: Socket,
    reads?: StaticReads,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    // Read now: a destroyed socket forgets its peer, and messages name it after the fact.
    this.remoteHost = socket.remoteAddress ?? '?';
    this.remoteAddress = formatHostPort(this.remoteHost, socket.remotePort ?? 0);
    this.localHost = socket.localAddress;
    if (reads) reads.deliver = (chunk) => this.onData(chunk, true);
    else socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    let error: Error | null = null;
    socket.on('error', (cause) => {
      error ??= cause;
    });
    socket.on('close', () => this.onClose(error));
  }

  write(pieces: readonly Uint8Array[], done?: () => void): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (pieces.length === 1) {
      socket.write(pieces[0] as Uint8Array, done);
      return;
    }
    // Writes complete in order, so the callback of the last piece says the whole batch has left.
    socket.cork();
    const last = pieces.length - 1;
    for (let i = 0; i <= last; i++) socket.write(pieces[i] as Uint8Array, i === last ? done : undefined);
    socket.uncork();
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  get writable(): boolean {
    return !this.socket.destroyed && !this.socket.writableEnded;
  }

  /** Pauses the socket itself: the kernel's window then holds the peer back. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }
}

/**
 * Rank 0's listening server as a LinkListener; `host`/`port`: the address it really bound.
 * `readBytes`: each accepted link reads into its own reused buffer of this many bytes (borrowed
 * chunks, adoptAccepted); 0 turns that off ('data' events, owned 64 KiB chunks).
 */
export class NetListener implements LinkListener {
  onLink: (link: Link) => void = (link) => link.destroy();
  readonly address: string;

  constructor(
    readonly server: Server,
    readonly host: string,
    readonly port: number,
    warn: (message: string) => void,
    readonly readBytes: number = STATIC_READ_BYTES,
    /** Who listens, as warnings name it: rank 0's port, or a worker's direct-link listener (`tcp rank 3`). */
    who = 'tcp rank 0',
  ) {
    this.address = formatHostPort(host, port);
    server.on('connection', (socket: Socket) =>
      this.onLink(adoptAccepted(socket, readBytes > 0 ? new StaticReads(readBytes) : null)),
    );
    server.on('error', (error) => warn(`${who}: listening socket error: ${error.message}`));
  }

  unref(): void {
    this.server.unref();
  }

  close(): void {
    this.server.close();
  }
}

/**
 * Listens on settings.bindAddr:port, or adopts settings.server (which must be listening already).
 * Rejects with BackendError 'InitializationFailed' (cannot listen: EADDRINUSE…) or
 * 'IncompatibleSettings' (an adopted server that is not listening).
 */
export async function listenNet(s: TcpSettings): Promise<NetListener> {
  const server = s.server ?? createServer();
  if (!s.server) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new BackendError(
            'InitializationFailed',
            `tcp: rank 0 cannot listen on ${formatHostPort(s.bindAddr, s.port)} (${error.code ?? error.message})`,
            { address: s.bindAddr, port: s.port, errno: error.code },
            error.code === 'EADDRINUSE'
              ? `port ${s.port} is taken (by another job's rank 0?): give each job its own COLLECTIVE_TCP_PORT (MASTER_PORT), or port 0 for an ephemeral one`
              : 'check bindAddr: it must be an address of this machine',
          ),
        ),
      );
      server.listen({ host: s.bindAddr, port: s.port }, () => resolve());
    });
  } else if (!server.listening) {
    throw new BackendError(
      'IncompatibleSettings',
      'tcp: the server passed in options.server is not listening',
      { field: 'server' },
      'call server.listen() before passing it, or omit server',
    );
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : s.port;
  const host = typeof address === 'object' && address ? address.address : s.bindAddr;
  return new NetListener(server, host, port, s.warn);
}

const DIAL_FAILURES: Readonly<Record<string, DialFailure>> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'unresolved',
  EAI_AGAIN: 'unresolved-transient',
};

function dialError(error: NodeJS.ErrnoException): DialError {
  const failure = (error.code !== undefined ? DIAL_FAILURES[error.code] : undefined) ?? 'other';
  return { failure, code: error.code, message: error.message };
}

/**
 * Dials host:port, one connect per call. A worker's frames are consumed as they arrive (results go
 * straight into the caller's arrays, control frames are decoded at once), so its sockets read into
 * one reused buffer, shared by this dialer's attempts (one live socket at a time).
 */
export function netDialer(host: string, port: number, readBytes: number = STATIC_READ_BYTES): Dialer {
  const reads = new StaticReads(readBytes);
  return (signal) =>
    new Promise((resolve) => {
      const socket = connect({ host, port, onread: reads.options });
      const abandon = (): void => void socket.destroy();
      signal?.addEventListener('abort', abandon, { once: true });
      const onError = (error: NodeJS.ErrnoException): void => {
        signal?.removeEventListener('abort', abandon);
        socket.destroy();
        resolve(dialError(error));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        signal?.removeEventListener('abort', abandon);
        socket.off('error', onError);
        resolve(new NetLink(socket, reads));
      });
    });
}
