/**
 * `collective run --backend mpi` (spec/train.md §7.10): the ranks are an MPI job that Open MPI's
 * `mpirun` starts, each running `node` with the same exec args and preload as a process rank. Output
 * comes back tagged by mpirun (--tag-output) and is relayed as every other run's; signals go to mpirun
 * (which passes them on to its ranks), --timeout stops it, its exit status is the run's, and its whole
 * process group is killed when it ends, so no rank outlives the run.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { loadAddon } from '../backends/mpi/addon.js';
import { processExecArgv, siblingModule } from './module-loading.js';
import { signalProcessGroup } from './process-group.js';
import type { RankOutput } from './rank-output.js';
import type { RunArgs } from './run-args.js';
import { JOB_ID_VARIABLE } from './train-options.js';

/** What is missing when mpirun cannot be started, and what to do about it (exit status 2). */
export class MpirunMissingError extends Error {
  override name = 'MpirunMissingError';
}

/** The launcher's settings for one mpirun job, from the run-command's own constants. */
export interface MpirunJob {
  args: RunArgs;
  script: URL;
  output: RankOutput;
  forwarded: readonly NodeJS.Signals[];
  ending: ReadonlySet<NodeJS.Signals>;
  /** After an ending signal or --timeout, how long mpirun may take to stop its ranks before SIGKILL (ms). */
  graceMs: number;
  timeoutExitCode: number;
  parentPollMs: number;
}

const MS_PER_SEC = 1000;
const SIGNAL_EXIT_BASE = 128;
/** A line of `mpirun --tag-output`: `[job,rank]<stdout>:text` (Open MPI 4). */
const TAGGED_LINE = /^\[\d+,(\d+)\]<(stdout|stderr)>:(.*)$/;
const TO_DO =
  'install Open MPI (apt-get install openmpi-bin libopenmpi-dev, then npm run build:mpi) or use --backend tcp';

/** The mpirun command line of a run: flags, `-n N`, node with the process ranks' exec args, script, args. */
export function mpirunArgs(args: RunArgs, script: URL, cores = availableParallelism()): string[] {
  const preload = siblingModule('rank-preload');
  const node = [process.execPath, ...processExecArgv([preload, script]), '--import', preload.href];
  return [
    '--tag-output',
    ...(args.numRanks > cores ? ['--oversubscribe'] : []),
    // Open MPI refuses root unless told; containers and CI run as root.
    ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : []),
    '-n',
    String(args.numRanks),
    ...node,
    new URL(script).pathname,
    ...args.scriptArgs,
  ];
}

/** Throws MpirunMissingError when the addon is not loadable here (mpirun's absence shows at spawn). */
export function checkMpiAddon(): void {
  const addon = loadAddon();
  if (!addon.loaded)
    throw new MpirunMissingError(`--backend mpi needs the MPI addon: ${addon.reason}; ${TO_DO}`);
}

/** Runs the job and resolves with the run's exit status once mpirun and its process group are gone. */
export function runMpirun(job: MpirunJob): Promise<number> {
  const { args, output } = job;
  const env = {
    ...process.env,
    COLLECTIVE_BACKEND: 'mpi',
    // ABORT_ON_FAILURE_VARIABLE of the backend: a rank exiting non-zero aborts the job with its code.
    COLLECTIVE_MPI_ABORT_ON_FAILURE: '1',
    [JOB_ID_VARIABLE]: process.env[JOB_ID_VARIABLE] ?? randomUUID(),
  };
  const child = spawn('mpirun', mpirunArgs(args, job.script), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a kill reaches mpirun and every rank it started.
    detached: true,
  });
  const relay = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): void => {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      const tagged = TAGGED_LINE.exec(line);
      if (tagged) output.line(Number(tagged[1]), tagged[2] as 'stdout' | 'stderr', tagged[3] as string);
      else if (name === 'stderr') output.note(`mpirun: ${line}`);
      else output.note(line);
    });
  };
  relay(child.stdout, 'stdout');
  relay(child.stderr, 'stderr');
  let timedOut = false;
  let killTimer: NodeJS.Timeout | null = null;
  const stop = (signal: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    killTimer ??= setTimeout(() => signalProcessGroup(child.pid as number, 'SIGKILL'), job.graceMs);
  };
  const forward = new Map<NodeJS.Signals, () => void>();
  for (const signal of job.forwarded) {
    const listener = (): void => (job.ending.has(signal) ? stop(signal) : void child.kill(signal));
    forward.set(signal, listener);
    process.on(signal, listener);
  }
  const timer =
    args.timeoutSecs === null
      ? null
      : setTimeout(() => {
          timedOut = true;
          output.note(`--timeout ${args.timeoutSecs} s reached; stopping mpirun and every rank`);
          stop('SIGTERM');
        }, args.timeoutSecs * MS_PER_SEC);
  const parent = process.ppid;
  const parentWatch = args.parentWatch
    ? setInterval(() => {
        if (process.ppid === parent) return;
        output.note(`the launcher's parent (pid ${parent}) is gone; stopping mpirun as on SIGTERM`);
        stop('SIGTERM');
      }, job.parentPollMs)
    : null;
  output.startStatus(() => ({ running: child.exitCode === null ? args.numRanks : 0, done: 0, failed: 0 }));
  return new Promise<number>((resolve) => {
    let finished = false;
    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (parentWatch) clearInterval(parentWatch);
      for (const [signal, listener] of forward) process.off(signal, listener);
      output.stopStatus();
      output.event({ event: 'exit', code, timedOut, launcher: 'mpirun' });
      resolve(code);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return;
      const what =
        error.code === 'ENOENT' ? 'mpirun is not on PATH' : `mpirun could not start (${error.message})`;
      output.note(`--backend mpi: ${what}; ${TO_DO}`);
      finish(2);
    });
    // mpirun is gone: whatever of its group is left (a rank it could not stop) goes too.
    child.once('exit', () => {
      if (child.pid !== undefined) signalProcessGroup(child.pid, 'SIGKILL');
    });
    child.once('close', (exitCode, signal) => {
      const code = timedOut
        ? job.timeoutExitCode
        : signal !== null
          ? SIGNAL_EXIT_BASE + (constants.signals[signal] ?? 0)
          : (exitCode ?? 1);
      finish(code);
    });
  });
}
