/**
 * Launching node programs under Open MPI's mpirun in tests: the flags every launch needs (running as
 * root in CI containers, more ranks than cores), the process group that a kill must reach, and
 * whether MPI and our addon are here at all (tests that need them are registered only then).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { loadAddon } from '../../src/backends/mpi/addon.js';

/** mpirun as root (CI containers) and with more ranks than cores (a 2-core box runs 4). */
export const MPIRUN_ROOT_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
export const MPIRUN_FLAGS = ['--oversubscribe'];

/** Whether mpirun runs and the addon loads: the mpi tests' precondition (else they are not registered). */
export function mpiHere(): boolean {
  const mpirun = spawnSync('mpirun', ['--version'], { stdio: 'ignore' });
  return mpirun.status === 0 && loadAddon().loaded;
}

/** A KEPT-only environment (no launcher variables of whatever runs the tests leak in). */
export function mpirunEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...MPIRUN_ROOT_ENV, ...extra };
}

/** Starts `mpirun -n size node --import tsx program` in its own process group. */
export function spawnMpirun(
  size: number,
  program: string,
  env: Record<string, string>,
  extraArgs: readonly string[] = [],
): ChildProcess {
  const args = [
    ...MPIRUN_FLAGS,
    ...extraArgs,
    '-n',
    String(size),
    process.execPath,
    '--import',
    'tsx',
    program,
  ];
  return spawn('mpirun', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: mpirunEnv(env) });
}

/** Kills mpirun, its daemons and every rank. */
export function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    // already gone
  }
}
