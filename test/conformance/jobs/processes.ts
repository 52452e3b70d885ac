/**
 * Child processes of the multi-job family: each a hand-launched rank or a whole `mpirun`, leading a
 * process group of its own (so a failed test can stop mpirun's ranks too), whose outcome lines a test
 * waits for — never for time.
 */
import { spawn } from 'node:child_process';
import { OUTCOME_PREFIX, type JobOutcome } from './outcome.js';
import { freePort } from '../../support/ports.js';

export interface Launched {
  /** Resolves with that rank's outcome line; rejects if the process ends without one. */
  outcome(rank: number): Promise<JobOutcome>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL to the whole process group, if it is still running. */
  kill(): void;
}

export function launch(command: string, args: readonly string[], env: Record<string, string>): Launched {
  const child = spawn(command, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let running = true;
  const outcomes = new Map<number, JobOutcome>();
  const waiters = new Map<number, { resolve(o: JobOutcome): void; reject(e: Error): void }>();
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith(OUTCOME_PREFIX)) continue;
      const outcome = JSON.parse(line.slice(OUTCOME_PREFIX.length)) as JobOutcome;
      outcomes.set(outcome.rank, outcome);
      waiters.get(outcome.rank)?.resolve(outcome);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running = false;
      for (const [rank, waiter] of waiters) {
        if (!outcomes.has(rank)) {
          waiter.reject(
            new Error(
              `${command} ended (${code ?? signal}) without rank ${rank}'s outcome\n${stdout}\n${stderr}`,
            ),
          );
        }
      }
      resolve({ code, signal });
    });
  });
  return {
    outcome(rank) {
      const seen = outcomes.get(rank);
      if (seen) return Promise.resolve(seen);
      if (!running) return Promise.reject(new Error(`${command} ended without rank ${rank}'s outcome`));
      return new Promise((resolve, reject) => waiters.set(rank, { resolve, reject }));
    },
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    kill() {
      if (!running) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

/**
 * The address both jobs use: one free port given to both jobs alike. Not the default 29500 itself,
 * although the jobs met there: another copy of this suite (or any job on the machine) may
 * hold or take it at the same moment, and admission does not depend on which port the jobs share.
 */
export async function sharedPort(): Promise<{ port: number; env: Record<string, string> }> {
  const port = await freePort();
  return { port, env: { COLLECTIVE_TCP_PORT: String(port) } };
}
