/**
 * The mpi backend under a real mpirun (spec/backend-mpi.md §7): results bit-identical to shm and tcp,
 * a mismatch on every rank, the pair channel's order and payloads, a timeout, and a rank that dies.
 * Batched: one mpirun launch runs every case that leaves the job alive; one more for the crash.
 * Registered only where mpirun runs and the addon loads (without-mpi.test.ts covers the rest).
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { availableBackends } from '../../../src/index.js';
import { runCollective } from '../../support/collective-cli.js';
import { killGroup, mpiHere, spawnMpirun } from '../../support/mpirun.js';

const BITS = fileURLToPath(new URL('./fixtures/bits-rank.ts', import.meta.url));
const CRASH = fileURLToPath(new URL('./fixtures/crash-rank.ts', import.meta.url));
const RANKS = 3;
/** Our limit on any launch: a hang fails the test instead of CI. */
const LAUNCH_LIMIT_MS = 120_000;
/** A rank's death must end the job within this long (generous: Open MPI takes well under a second here). */
const DEATH_NOTICED_MS = 10_000;
/** The timeout case's fatal timeout is 1 s; it must fire within this long. */
const TIMEOUT_FIRES_MS = 8_000;

interface Launch {
  code: number | null;
  lines: Array<Record<string, unknown>>;
  output: string;
  exitedAt: number;
}

function launch(program: string, env: Record<string, string> = {}): Promise<Launch> {
  return new Promise((resolve) => {
    const child = spawnMpirun(RANKS, program, { COLLECTIVE_TIMEOUT_SECS: '60', ...env });
    let stdout = '';
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const limit = setTimeout(() => killGroup(child), LAUNCH_LIMIT_MS);
    child.on('close', (code) => {
      const exitedAt = Date.now();
      clearTimeout(limit);
      if (code !== 0) killGroup(child);
      const lines = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, lines, output, exitedAt });
    });
  });
}

function only(lines: Launch['lines'], kind: string): Launch['lines'] {
  return lines.filter((l) => l['kind'] === kind);
}

if (!mpiHere()) {
  // Not skipped: where MPI is absent the check is that the backend says so (without-mpi.test.ts has the rest).
  describe('mpi backend without MPI here', () => {
    it('availableBackends() reports mpi unavailable with a reason', () => {
      const mpi = availableBackends().find((b) => b.name === 'mpi');
      expect(mpi?.available === false ? mpi.reason : 'mpirun missing').toMatch(/./);
    });
  });
} else
  describe(`mpi backend under mpirun -n ${RANKS}`, () => {
    let main: Launch;
    beforeAll(async () => {
      main = await launch(BITS);
    }, LAUNCH_LIMIT_MS + 5_000);

    it('the launch picks mpi by itself and every case ends cleanly', () => {
      expect(main.code, main.output).toBe(0);
      expect(only(main.lines, 'bits')[0]).toMatchObject({ backend: 'mpi', size: RANKS, same: true });
    });

    it(
      'allreduce results are bit-identical to shm and tcp (inline, gathered and sliced paths, 4 ops)',
      async () => {
        const mpi = only(main.lines, 'bits')[0]?.['hashes'];
        for (const backend of ['shm', 'tcp']) {
          const run = await runCollective(
            ['run', '-n', String(RANKS), '--backend', backend, BITS],
            process.env,
            LAUNCH_LIMIT_MS,
          );
          expect(run.code, run.stderr).toBe(0);
          const line = run.stdout.split('\n').find((l) => l.includes('"kind":"bits"'));
          // collective run prefixes each rank's lines with "[rank] ".
          const bits = JSON.parse(line?.slice(line.indexOf('{')) ?? '{}') as {
            backend: string;
            hashes: unknown;
          };
          expect(bits.backend).toBe(backend);
          expect(bits.hashes, `mpi against ${backend}`).toEqual(mpi);
        }
      },
      2 * LAUNCH_LIMIT_MS,
    );

    it('a mismatch is CollectiveMismatch on every rank, and the communicator stays usable', () => {
      const lines = only(main.lines, 'mismatch');
      expect(lines.map((l) => l['rank']).sort()).toEqual([0, 1, 2]);
      for (const line of lines) expect(line).toMatchObject({ code: 'CollectiveMismatch', usableAfter: true });
    });

    it('the pair channel delivers every frame, in per-source order, with its payload (inline and separate)', () => {
      const lines = only(main.lines, 'channel');
      expect(lines).toHaveLength(RANKS);
      for (const line of lines) expect(line).toMatchObject({ received: (RANKS - 1) * 6, problems: [] });
    });

    it('a timeout names the ranks that never arrived, within bounds, and ends the group on the others', () => {
      const lines = only(main.lines, 'timeout');
      const rank0 = lines.find((l) => l['rank'] === 0);
      expect(rank0).toMatchObject({ code: 'Timeout', missing: [1, 2] });
      expect(rank0?.['ms'] as number).toBeLessThan(TIMEOUT_FIRES_MS);
      for (const line of lines.filter((l) => l['rank'] !== 0)) {
        expect(line).toMatchObject({ code: 'CollectiveFailed', namesRank0: true });
      }
    });

    it(
      'a rank that dies: mpirun ends the job, the others never return from the collective',
      async () => {
        const crash = await launch(CRASH);
        expect(crash.code).not.toBe(0);
        const dying = only(crash.lines, 'dying')[0];
        expect(dying, crash.output).toBeDefined();
        expect(only(crash.lines, 'survived')).toEqual([]);
        expect(crash.exitedAt - (dying?.['at'] as number)).toBeLessThan(DEATH_NOTICED_MS);
      },
      LAUNCH_LIMIT_MS + 5_000,
    );
  });
