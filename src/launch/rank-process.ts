/** A rank that is a child process (the tcp backend of train() and `collective run`). */
import { fork, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RankExit, RankHandle } from './rank-handle.js';

export interface ProcessRankOptions {
  rank: number;
  /** The module the child runs (a file: URL). */
  entry: URL;
  args?: readonly string[];
  execArgv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** 'inherit' passes the child's output straight through; 'pipe' exposes it as stdout/stderr. */
  output: 'inherit' | 'pipe';
  /**
   * Run in a process group of its own, so that a signal to the launcher's group (Ctrl-C on a terminal)
   * reaches the rank once, forwarded by the launcher, not twice.
   */
  ownProcessGroup?: boolean;
}

export class ProcessRank implements RankHandle {
  readonly rank: number;
  readonly kind = 'process';
  readonly exited: Promise<RankExit>;
  readonly reaped: Promise<RankExit>;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly #child: ChildProcess;
  #running = true;
  /** Signals this launcher sent while the process ran: an exit by one of them is not the rank's own doing. */
  readonly #sent = new Set<NodeJS.Signals>();

  constructor(options: ProcessRankOptions) {
    this.rank = options.rank;
    this.#child = fork(options.entry, [...(options.args ?? [])], {
      execArgv: [...options.execArgv],
      env: options.env,
      // Structured clone over IPC: results and progress events may hold typed arrays and Maps.
      serialization: 'advanced',
      stdio: ['ignore', options.output, options.output, 'ipc'],
      detached: options.ownProcessGroup ?? false,
    });
    this.stdout = this.#child.stdout;
    this.stderr = this.#child.stderr;
    let exited: (exit: RankExit) => void = () => {};
    let reaped: (exit: RankExit) => void = () => {};
    this.exited = new Promise((resolve) => (exited = resolve));
    this.reaped = new Promise((resolve) => (reaped = resolve));
    this.#child.once('exit', (exitCode, signal) => {
      this.#running = false;
      exited({ exitCode, signal, byLauncher: signal !== null && this.#sent.has(signal) });
    });
    // 'close' comes after 'exit' once stdio and the IPC channel are closed: then nothing is left.
    this.#child.once('close', (exitCode, signal) => {
      this.#running = false;
      reaped({ exitCode, signal, byLauncher: signal !== null && this.#sent.has(signal) });
    });
    // A fork that fails (EAGAIN, a missing execPath) emits 'error' and may never emit 'exit' or
    // 'close': there is no process, so it has exited and is reaped now, with the error as its cause.
    this.#child.on('error', (error) => {
      if (this.#child.pid !== undefined) return;
      this.#running = false;
      const exit: RankExit = { exitCode: null, signal: null, byLauncher: false, uncaught: error };
      exited(exit);
      reaped(exit);
    });
  }

  get pid(): number | null {
    return this.#child.pid ?? null;
  }

  get running(): boolean {
    return this.#running;
  }

  send(message: unknown): void {
    if (!this.#child.connected) return;
    this.#child.send(message as object, (error) => {
      // The child went away between the check and the write: its exit is reported by 'close'.
      void error;
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.#running) return;
    this.#sent.add(signal);
    this.#child.kill(signal);
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#child.on('message', listener);
  }
}
