/**
 * `collective run --backend mpi` delegates to mpirun (spec/train.md §7.10): the ranks are an MPI job,
 * their output comes back with [rank] prefixes, a failing rank's exit code is the run's; where mpirun
 * is missing the run says so at once. The launches run only where mpirun and the addon are here.
 */
import { describe, expect, it } from 'vitest';
import { mpiHere } from '../support/mpirun.js';
import { RANK_SCRIPT, runCli } from './run-cli.js';

/** A 2-core box runs 3 ranks: --oversubscribe is the launcher's to add. */
const RANKS = 3;
/** One mpirun start-up on a loaded 2-core machine, with room to spare. */
const LAUNCH_TIMEOUT_MS = 120_000;
/** Root in CI containers: the launcher, not the test, must say that mpirun may run as root. */
const WITHOUT_ROOT_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '' };

describe.runIf(mpiHere())('collective run --backend mpi (mpirun here)', () => {
  it(
    `runs ${RANKS} ranks under mpirun that pick mpi, with [rank] prefixes, exit code 0`,
    async () => {
      const run = runCli(['-n', String(RANKS), '--backend', 'mpi', RANK_SCRIPT, 'whoami'], WITHOUT_ROOT_ENV);
      const { code } = await run.exited;
      expect(code, run.stderr.join('\n')).toBe(0);
      const lines = run.stdout.filter((line) => line.includes('backend=')).sort();
      expect(lines).toEqual([0, 1, 2].map((r) => `[${r}] rank ${r}/${RANKS} backend=mpi`));
    },
    LAUNCH_TIMEOUT_MS,
  );

  it(
    "a failing rank's exit code is the run's",
    async () => {
      const run = runCli(
        ['-n', String(RANKS), '--backend', 'mpi', RANK_SCRIPT, 'exit', '1', '7'],
        WITHOUT_ROOT_ENV,
      );
      expect((await run.exited).code, run.stderr.join('\n')).toBe(7);
    },
    LAUNCH_TIMEOUT_MS,
  );
});

describe('collective run --backend mpi without mpirun', () => {
  it('fails at once, naming mpirun and what to do', async () => {
    const run = runCli(['-n', String(RANKS), '--backend', 'mpi', RANK_SCRIPT, 'whoami'], {
      PATH: '/nonexistent',
    });
    const { code } = await run.exited;
    expect(code).toBe(2);
    const said = run.stderr.join('\n');
    expect(said).toContain('mpirun');
    expect(said).toContain('Open MPI');
    expect(said).toContain('--backend tcp');
  });
});
