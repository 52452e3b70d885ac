/**
 * One real launch under Open MPI: `mpirun -n 4 node <rank program>`. The ranks read only what mpirun
 * gives them, pick a backend by themselves — mpi where its addon loads, else tcp at 127.0.0.1 — and
 * agree bit for bit on an allreduce.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { childEnv } from './fixtures/child-env.js';
import { referenceReduce, sameBits } from '../support/reference.js';
import { freePort } from '../support/ports.js';
import { mpiHere } from '../support/mpirun.js';

/** What auto picks under mpirun here (spec/selection.md §5.1 step 2). */
const EXPECTED = mpiHere() ? 'mpi' : 'tcp';

const RANK_PROGRAM = fileURLToPath(new URL('./fixtures/mpi-rank.ts', import.meta.url));
const RANKS = 4;
/** mpirun's own limit, and ours above it: the launch can never hang CI. */
const MPIRUN_TIMEOUT_SECS = 90;
const HARD_KILL_MS = (MPIRUN_TIMEOUT_SECS + 15) * 1000;
/** The ranks' collective timeout: a lost rank fails the test long before the hard kill. */
const RANK_TIMEOUT_SECS = 30;

interface Launch {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function mpirun(port: number): Promise<Launch> {
  const args = ['--timeout', String(MPIRUN_TIMEOUT_SECS), '--oversubscribe', '-n', String(RANKS)];
  args.push(process.execPath, '--import', 'tsx', RANK_PROGRAM);
  return new Promise((resolve, reject) => {
    // Its own process group, so that a kill reaches mpirun's daemons and every rank.
    const child = spawn('mpirun', args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv({
        OMPI_ALLOW_RUN_AS_ROOT: '1',
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
        COLLECTIVE_TCP_PORT: String(port),
        COLLECTIVE_TIMEOUT_SECS: String(RANK_TIMEOUT_SECS),
      }),
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const hardKill = setTimeout(killGroup, HARD_KILL_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(hardKill);
      const missing = error.code === 'ENOENT';
      reject(missing ? new Error('mpirun not found: apt-get install openmpi-bin (.ci/run does)') : error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(hardKill);
      if (code !== 0) killGroup(); // leave no orphaned rank behind a failed launch
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('mpirun', () => {
  it(
    `mpirun -n ${RANKS}: ranks pick ${EXPECTED} themselves and agree on an allreduce`,
    async () => {
      const launch = await mpirun(await freePort());
      expect(launch.code, `stdout:\n${launch.stdout}\nstderr:\n${launch.stderr}`).toBe(0);
      const lines = launch.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line));
      expect(lines.map((l) => l.rank).sort()).toEqual([0, 1, 2, 3]);
      const contributions = [0, 1, 2, 3].map((r) => Float64Array.from([r + 1, 1 / (r + 3), r * 0.1]));
      const expected = new Float64Array(contributions[0]!.length);
      referenceReduce('float64', 'sum', contributions, expected);
      for (const line of lines) {
        expect(line).toMatchObject({ size: RANKS, backend: EXPECTED });
        if (EXPECTED === 'tcp') expect(line).toMatchObject({ coordinator: { host: '127.0.0.1' } });
        // JSON round-trips float64 exactly, so equal numbers here are equal bits.
        expect(sameBits(Float64Array.from(line.sum), expected), `rank ${line.rank}: ${line.sum}`).toBe(true);
      }
    },
    HARD_KILL_MS + 5_000,
  );
});
