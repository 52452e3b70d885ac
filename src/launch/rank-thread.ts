/** A rank that is a worker thread (the shm backend of train() and `collective run`). */
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { RankExit, RankHandle } from './rank-handle.js';

/** Signals whose default action ends a Node.js process (SIGUSR1 starts the inspector instead). */
const TERMINATING_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set([
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR2',
  'SIGKILL',
]);

/** The exit code of a worker thread ended by worker.terminate(). */
const TERMINATED_EXIT_CODE = 1;
/** Message kinds of the signal relay that `signalRelayPrelude` installs in a thread. */
const SIGNAL_MESSAGE = 'collective:signal';
const SIGNAL_UNHANDLED_MESSAGE = 'collective:signal-unhandled';

/**
 * Script text, run first in a thread, that receives relayed signals: it emits them on the thread's
 * `process` when the rank listens for them, and otherwise tells the parent, which then ends the thread
 * as the signal would end a process. The port is unref'd so the relay never keeps a finished rank alive.
 */
export const signalRelayPrelude = `{
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (m) => {
    if (!m || m.kind !== ${JSON.stringify(SIGNAL_MESSAGE)}) return;
    if (process.listenerCount(m.signal) > 0) process.emit(m.signal, m.signal);
    else parentPort.postMessage({ kind: ${JSON.stringify(SIGNAL_UNHANDLED_MESSAGE)}, signal: m.signal });
  });
  parentPort.unref();
}
`;

export interface ThreadRankOptions {
  rank: number;
  /** Script text run with `eval: true` (see threadBootstrap). */
  source: string;
  workerData: Record<string, unknown>;
  /** The thread's own process.env. */
  env: NodeJS.ProcessEnv;
  argv?: readonly string[];
  output: 'inherit' | 'pipe';
  /** The source starts with signalRelayPrelude. */
  signalRelay: boolean;
}

export class ThreadRank implements RankHandle {
  readonly rank: number;
  readonly kind = 'thread';
  readonly pid = null;
  readonly reaped: Promise<RankExit>;
  /** A thread is reaped when it exits. */
  readonly exited: Promise<RankExit>;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly #worker: Worker;
  readonly #signalRelay: boolean;
  #running = true;
  /** The signal this thread was ended by, as the parent decided (threads have no signals). */
  #endedBy: NodeJS.Signals | null = null;
  #uncaught: unknown;

  constructor(options: ThreadRankOptions) {
    this.rank = options.rank;
    this.#signalRelay = options.signalRelay;
    const piped = options.output === 'pipe';
    this.#worker = new Worker(options.source, {
      eval: true,
      workerData: options.workerData,
      env: options.env,
      argv: [...(options.argv ?? [])],
      stdout: piped,
      stderr: piped,
    });
    this.stdout = piped ? this.#worker.stdout : null;
    this.stderr = piped ? this.#worker.stderr : null;
    this.#worker.on('error', (error) => {
      this.#uncaught ??= error;
    });
    this.#worker.on('message', (message: unknown) => {
      const m = message as { kind?: unknown; signal?: NodeJS.Signals } | null;
      if (m?.kind === SIGNAL_UNHANDLED_MESSAGE && m.signal && TERMINATING_SIGNALS.has(m.signal)) {
        this.#end(m.signal);
      }
    });
    this.reaped = new Promise((resolve) => {
      this.#worker.once('exit', (exitCode) => {
        this.#running = false;
        // A thread has no signals of its own: one recorded here was the launcher's doing — unless the
        // thread was already leaving by itself (process.exit(n) racing the stop: terminate() makes
        // the exit code 1, so any other code is the thread's own, and its own failure is the cause).
        const ended = this.#endedBy !== null && exitCode === TERMINATED_EXIT_CODE;
        const exit: RankExit = ended
          ? { exitCode: null, signal: this.#endedBy, byLauncher: true }
          : { exitCode, signal: null, byLauncher: false };
        if (this.#uncaught !== undefined) exit.uncaught = this.#uncaught;
        resolve(exit);
      });
    });
    this.exited = this.reaped;
  }

  get running(): boolean {
    return this.#running;
  }

  send(message: unknown): void {
    if (this.#running) this.#worker.postMessage(message);
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.#running) return;
    if (this.#signalRelay && signal !== 'SIGKILL') {
      this.#worker.postMessage({ kind: SIGNAL_MESSAGE, signal });
    } else if (TERMINATING_SIGNALS.has(signal)) {
      this.#end(signal);
    }
  }

  kill(): void {
    this.#end('SIGKILL');
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#worker.on('message', listener);
  }

  #end(signal: NodeJS.Signals): void {
    if (!this.#running || this.#endedBy) return;
    this.#endedBy = signal;
    void this.#worker.terminate();
  }
}
