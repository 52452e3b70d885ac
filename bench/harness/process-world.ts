/**
 * Runs one benchmark world as child processes (ranks the real way for a network backend): rank 0
 * starts first and reports where it listens; then ranks 1…R−1 start with that port. Each rank gets
 * its configuration over IPC and posts one RankReport. Children inherit this process's execArgv, so
 * TypeScript entries run through the same tsx loader.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeFailure, isRankReport } from './rank-report.js';

/** A child that has reported but not exited after this long is killed (the parent must not hang). */
const EXIT_GRACE_MS = 5_000;

export interface ProcessWorldOptions {
  readonly ranks: number;
  readonly entry: URL;
  /** The configuration rank r receives; port is rank 0's listening port (0 for rank 0 itself). */
  config(rank: number, port: number): unknown;
}

export function runProcessWorld(options: ProcessWorldOptions): Promise<number[][][]> {
  const { ranks, entry } = options;
  const timings: number[][][] = new Array(ranks);
  const children: ChildProcess[] = [];
  let reported = 0;
  let settled = false;
  return new Promise((resolve, reject) => {
    const finish = (failure: { rank: number; reason: string } | null): void => {
      if (settled) return;
      settled = true;
      if (failure) for (const child of children) child.kill('SIGKILL');
      else {
        for (const child of children) {
          if (child.exitCode === null) setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS).unref();
        }
      }
      if (failure) reject(new Error(`rank ${failure.rank}: ${failure.reason}`));
      else resolve(timings);
    };
    const start = (rank: number, port: number): void => {
      const child = fork(fileURLToPath(entry), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      child.on('message', (message: unknown) => {
        if (!isRankReport(message)) return;
        if (message.kind === 'error') finish({ rank, reason: message.message });
        else if (message.kind === 'listening') {
          for (let r = 1; r < ranks; r++) start(r, message.port);
        } else {
          timings[rank] = message.timings;
          reported += 1;
          if (reported === ranks) finish(null);
        }
      });
      child.on('error', (error) => finish({ rank, reason: describeFailure(error) }));
      child.on('exit', (code, signal) => {
        if (timings[rank] === undefined) {
          finish({ rank, reason: `process exited (${signal ?? `code ${code}`}) before reporting` });
        }
      });
      child.send({ kind: 'start', config: options.config(rank, port) });
    };
    start(0, 0);
  });
}
