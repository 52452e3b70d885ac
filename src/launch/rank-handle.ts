/**
 * One running rank, whether a worker thread or a child process, as the supervisors of train() and
 * `collective run` see it: messages in and out, signals, and one promise that settles when the rank
 * is fully reaped (exited, its pipes and channel closed).
 */
import { constants } from 'node:os';

export interface RankExit {
  /** The exit code, or null when the rank was ended by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The rank was ended by a signal the launcher sent it (a stop, a forwarded signal), not by itself. */
  byLauncher: boolean;
  /** A thread's uncaught error (the 'error' event), or why a process could not be started. */
  uncaught?: unknown;
}

export interface RankHandle {
  readonly rank: number;
  /** The process id of a process rank; null for a thread. */
  readonly pid: number | null;
  readonly kind: 'thread' | 'process';
  /** True until the rank has exited. */
  readonly running: boolean;
  /** Settles as soon as the rank has exited: the earliest moment its failure is known. */
  readonly exited: Promise<RankExit>;
  /** Settles once the rank is reaped: nothing of it remains (process, thread, pipe, channel). */
  readonly reaped: Promise<RankExit>;
  /** Sends a message if the rank still listens; a message to a rank that is gone is dropped. */
  send(message: unknown): void;
  /**
   * Delivers a signal. A process receives it from the OS. A thread has no signals of its own: it
   * sees the signal emitted on its `process` when it listens for it, and otherwise is terminated
   * when the signal's default action would end a process (recorded as ended by that signal).
   */
  signal(signal: NodeJS.Signals): void;
  /** Ends the rank at once: SIGKILL for a process, terminate() for a thread. */
  kill(): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** The shell convention for a process ended by a signal: 128 + the signal's number. */
export function exitCodeOf(exit: RankExit): number {
  if (exit.signal) return 128 + (constants.signals[exit.signal] ?? 0);
  return exit.exitCode ?? 1;
}

export function failed(exit: RankExit): boolean {
  return exit.signal !== null || exit.exitCode !== 0;
}
