/** A rank that is a child process (the tcp backend of train() and `collective run`). */
import { fork, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RankExit, RankHandle } from './rank-handle.js';
import { signalProcessGroup } from './process-group.js';

/**
 * Signals that go to a rank's whole process group: those that end it, as a terminal's Ctrl-C reaches
 * every process of the foreground group. SIGUSR1/SIGUSR2 (a checkpoint request) go to the rank only:
 * they would end a helper that does not expect them.
 */
const GROUP_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set([
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGKILL',
]);

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
   * Run as the leader of a process group of its own (spec/train.md §7.6): a signal to the launcher's
   * group (Ctrl-C on a terminal) reaches the rank once, forwarded by the launcher, not twice; ending
   * signals go to the whole group, and what is left of the group when the rank exits is killed, so
   * the rank's own child processes do not outlive it.
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
  readonly #ownGroup: boolean;
  #running = true;
  /** Signals this launcher sent while the process ran: an exit by one of them is not the rank's own doing. */
  readonly #sent = new Set<NodeJS.Signals>();

  constructor(options: ProcessRankOptions) {
    this.rank = options.rank;
    this.#ownGroup = options.ownProcessGroup ?? false;
    this.#child = fork(options.entry, [...(options.args ?? [])], {
      execArgv: [...options.execArgv],
      env: options.env,
      // Structured clone over IPC: results and progress events may hold typed arrays and Maps.
      serialization: 'advanced',
      stdio: ['ignore', options.output, options.output, 'ipc'],
      detached: this.#ownGroup,
    });
    this.stdout = this.#child.stdout;
    this.stderr = this.#child.stderr;
    let exited: (exit: RankExit) => void = () => {};
    let reaped: (exit: RankExit) => void = () => {};
    this.exited = new Promise((resolve) => (exited = resolve));
    this.reaped = new Promise((resolve) => (reaped = resolve));
    const pid = this.#child.pid;
    this.#child.once('exit', (exitCode, signal) => {
      this.#running = false;
      // The rank is gone; its helpers would be orphans (and one holding its stdout would keep 'close'
      // from ever coming).
      if (this.#ownGroup && pid !== undefined) signalProcessGroup(pid, 'SIGKILL');
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
    const pid = this.#child.pid;
    if (this.#ownGroup && pid !== undefined && GROUP_SIGNALS.has(signal)) {
      if (signalProcessGroup(pid, signal)) return;
    }
    this.#child.kill(signal);
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#child.on('message', listener);
  }
}
