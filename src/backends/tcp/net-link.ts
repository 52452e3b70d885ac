/**
 * The star protocol's link over `net.Socket` (spec/backend-tcp.md §11.2): NetLink (one TCP
 * connection, TCP_NODELAY, keepalive, reads into one reused buffer on the worker's side), NetListener
 * (rank 0's listening server, its own or one adopted from options.server) and the net dialer, which
 * classifies a failed connect for the worker's retry loop.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { BackendError } from '../../communicator/errors.js';
import { formatHostPort } from '../../communicator/host-address.js';
import type { DialError, DialFailure, Dialer, Link, LinkListener } from '../link/link.js';
import type { TcpSettings } from './options.js';

/** TCP keepalive probes start after this much idle time (ms), so a vanished peer host is noticed. */
export const KEEPALIVE_IDLE_MS = 10_000;

/** Bytes a socket reads at once into its reused buffer (`onread`). */
export const STATIC_READ_BYTES = 64 * 1024;

/**
 * Reading into one reused buffer (net's `onread` option) instead of a fresh buffer per read: no
 * allocation per message on the hot path. Create it before the socket, pass `options` to connect.
 */
class StaticReads {
  deliver: (chunk: Buffer) => void = () => {};
  readonly options = {
    buffer: Buffer.allocUnsafe(STATIC_READ_BYTES),
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      this.deliver(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
      return true;
    },
  };
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

/** Rank 0's listening server as a LinkListener; `host`/`port`: the address it really bound. */
export class NetListener implements LinkListener {
  onLink: (link: Link) => void = (link) => link.destroy();
  readonly address: string;

  constructor(
    readonly server: Server,
    readonly host: string,
    readonly port: number,
    warn: (message: string) => void,
  ) {
    this.address = formatHostPort(host, port);
    server.on('connection', (socket: Socket) => this.onLink(new NetLink(socket)));
    server.on('error', (error) => warn(`tcp rank 0: listening socket error: ${error.message}`));
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
export function netDialer(host: string, port: number): Dialer {
  const reads = new StaticReads();
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
