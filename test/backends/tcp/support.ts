/**
 * Helpers for tcp tests: groups whose ranks live in this process (real sockets on 127.0.0.1, the
 * race-free port relay), a raw peer that speaks the handshake by hand, and child-process ranks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connectTcp, type TcpOptions } from '../../../src/backends/tcp/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { BackendError } from '../../../src/communicator/errors.js';
import { FrameReader } from '../../../src/backends/star/frame-reader.js';
import { encodeHello, newNonce } from '../../../src/backends/star/handshake.js';
import {
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  Tag,
} from '../../../src/backends/star/protocol.js';

export type GroupOptions = Partial<Omit<TcpOptions, 'rank' | 'size' | 'port'>>;

/** The star's rounds unless a test asks for another algorithm: most tests here drive the star protocol itself (hand-made workers). */
export const BASE = {
  host: '127.0.0.1',
  timeoutSecs: 30,
  connectTimeoutSecs: 10,
  algorithm: 'star' as const,
};

/** Starts rank 0 on an ephemeral port; resolves with its port and its (pending) communicator. */
export function startRankZero(
  size: number,
  options: GroupOptions = {},
): Promise<{ port: number; comm: Promise<Communicator> }> {
  return new Promise((resolve, reject) => {
    const comm = connectTcp({
      ...BASE,
      ...options,
      rank: 0,
      size,
      port: 0,
      onListening: ({ port }) => resolve({ port, comm }),
    });
    comm.catch(reject);
  });
}

/** A whole group in this process: rank 0 first, then the others with its port. */
export async function formGroup(size: number, options: GroupOptions = {}): Promise<Communicator[]> {
  const { port, comm } = await startRankZero(size, options);
  const workers = Array.from({ length: size - 1 }, (_, i) =>
    connectTcp({ ...BASE, ...options, rank: i + 1, size, port }),
  );
  return Promise.all([comm, ...workers]);
}

export async function closeAll(comms: Communicator[]): Promise<void> {
  await Promise.all(comms.map((c) => c.close()));
}

export function frame(tag: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + payload.byteLength);
  out.writeUInt32BE(payload.byteLength + 1, 0);
  out.writeUInt8(tag, 4);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** A hand-driven peer: connects, records every frame rank 0 sends, and writes raw bytes. */
export class RawPeer {
  readonly frames: Array<{ tag: number; payload: Buffer }> = [];
  readonly closed: Promise<void>;
  #waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    const reader = new FrameReader((tag, payload) => {
      this.frames.push({ tag, payload: Buffer.from(payload) });
      for (const w of this.#waiters.splice(0)) w();
    }, MAX_FRAME_PAYLOAD);
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  hello(rank: number, size: number, version = PROTOCOL_VERSION): void {
    this.write(
      frame(
        Tag.Handshake,
        encodeHello({ version, hasToken: false, rank, size, nonce: newNonce(), jobId: null }),
      ),
    );
  }

  /** Resolves with the first frame of `tag` (already received or still to come). */
  async next(tag: number): Promise<Buffer> {
    for (;;) {
      const found = this.frames.find((f) => f.tag === tag);
      if (found) return found.payload;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** The fixture's 'receive-broadcast' size: far more than loopback socket buffers hold (bytes). */
export const CHILD_BROADCAST_BYTES = 64 * 1024 * 1024;

const FIXTURE = fileURLToPath(new URL('./fixtures/rank.ts', import.meta.url));

/** A rank in its own process, without an IPC channel: it must exit on its own. Lines of stdout are JSON. */
export class RankChild {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly messages: Array<Record<string, unknown>> = [];
  #waiters: Array<() => void> = [];
  stderr = '';

  /** `fixture`: the script to run (default fixtures/rank.ts). */
  constructor(args: Record<string, unknown>, fixture = FIXTURE) {
    this.child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('{')) this.messages.push(JSON.parse(line) as Record<string, unknown>);
        for (const w of this.#waiters.splice(0)) w();
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => void (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        for (const w of this.#waiters.splice(0)) w();
        resolve({ code, signal });
      }),
    );
  }

  /** Resolves with the first `count` messages of this type; rejects if the process exits first. */
  async count(type: string, count: number): Promise<Array<Record<string, unknown>>> {
    for (;;) {
      const found = this.messages.filter((m) => m['type'] === type);
      if (found.length >= count) return found.slice(0, count);
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `rank child exited after ${found.length} '${type}' of ${count}; stderr:\n${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** The first message of this type; rejects if the process exits without sending it. */
  async next(type: string): Promise<Record<string, unknown>> {
    for (;;) {
      const found = this.messages.find((m) => m['type'] === type);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`rank child exited without '${type}'; stderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function errorOf(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  return promise.then(
    () => {
      throw new Error('expected an error, but the call succeeded');
    },
    (e: unknown) => e as Error,
  );
}

/** The BackendError a promise rejects with; throws if it resolves or rejects with anything else. */
export async function backendError(promise: Promise<unknown>): Promise<BackendError> {
  const error = await errorOf(promise);
  if (!(error instanceof BackendError)) throw new Error(`expected a BackendError, got ${String(error)}`);
  return error;
}

/** After a test: SIGKILLs the rank children still running and waits until every one has exited. */
export async function stopChildren(children: RankChild[]): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
}
