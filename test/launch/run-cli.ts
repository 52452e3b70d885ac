/**
 * Runs `collective run` from source in a child process, as a user would, and lets a test wait for
 * output lines (never for time) and for the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../selection/fixtures/cli.ts', import.meta.url));
export const RANK_SCRIPT = fileURLToPath(new URL('./fixtures/rank-behaviour.ts', import.meta.url));

export interface CliRun {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the stdout lines seen so far once `count` lines match. */
  waitForLines(pattern: RegExp, count: number): Promise<string[]>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** detached: the launcher leads a process group of its own, which a test may signal as a terminal would. */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: { detached?: boolean } = {},
): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'run', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<() => void> = [];
  const collect = (stream: NodeJS.ReadableStream, into: string[]): void => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      into.push(...lines);
      for (const wake of waiters.splice(0)) wake();
    });
  };
  collect(child.stdout!, stdout);
  collect(child.stderr!, stderr);
  let closed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true;
      for (const wake of waiters.splice(0)) wake();
      resolve({ code, signal });
    }),
  );
  const waitForLines = async (pattern: RegExp, count: number): Promise<string[]> => {
    for (;;) {
      const matching = stdout.filter((line) => pattern.test(line));
      if (matching.length >= count) return matching;
      if (closed) {
        throw new Error(
          `collective run exited before printing ${count} lines matching ${pattern}:\n${stdout.join('\n')}\n${stderr.join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { child, stdout, stderr, waitForLines, exited };
}
