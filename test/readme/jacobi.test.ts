/**
 * The README's Jacobi solver (examples/readme/jacobi.ts) is deterministic across backends and world
 * sizes: one rank (local), 2 and 3 worker threads (shm) and 2 and 3 processes (tcp) all report the same
 * iteration count and the same SHA-256 of the gathered grid, so every halo row arrived intact and in
 * place, and the max-residual allreduce agreed everywhere. 24 rows split over 3 ranks evenly, over 2
 * evenly too; the 1-rank run is the serial reference.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const EXAMPLES = fileURLToPath(new URL('../../examples/readme/', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.examples.json', import.meta.url));
const CLI = fileURLToPath(new URL('../selection/fixtures/cli.ts', import.meta.url));
/** Bounds a hung run; collective run stops every rank and exits 124 after it (3 tcp ranks take ~20 s on a loaded 2-core box). */
const RUN_TIMEOUT_SECS = 90;
/** Each test outlives its run's own bound, so a hang is reported as collective run's exit 124 with the ranks' output. */
const TEST_TIMEOUT_MS = (RUN_TIMEOUT_SECS + 30) * 1000;
/** What rank 0 prints: the iteration count, then the grid's hash. */
const REPORT = /jacobi: (\d+) iterations on (\d+) rank\(s\) on (\w+), residual (\S+), sha256 ([0-9a-f]{64})/;
/on (\d+) rank\(s\), (\w+): (\d+) iterations,\n {2}residual (\S+), centre \S+, sha256 ([0-9a-f]{64})/;

interface Solved {
  size: number;
  backend: string;
  iterations: number;
  residual: number;
  sha256: string;
}

function solve(args: string[]): Promise<Solved> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: EXAMPLES,
      env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const match = REPORT.exec(stdout);
      // Nothing on stderr but, on a machine with fewer cores than ranks, the one oversubscription note.
      const noise = stderr.split('\n').filter((l) => l !== '' && !/COLLECTIVE_OVERSUBSCRIBED/.test(l));
      if (code !== 0 || !match || noise.length > 0) {
        reject(new Error(`${args.join(' ')}: exit ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      resolve({
        iterations: Number(match[1]),
        size: Number(match[2]),
        backend: match[3] as string,
        residual: Number(match[4]),
        sha256: match[5] as string,
      });
    });
  });
}

const collectiveRun = (backend: string, ranks: number): Promise<Solved> =>
  solve([
    CLI,
    'run',
    '-n',
    String(ranks),
    '--backend',
    backend,
    '--timeout',
    String(RUN_TIMEOUT_SECS),
    'jacobi.ts',
  ]);

describe('Jacobi example (examples/readme/jacobi.ts)', () => {
  let serial: Solved;
  beforeAll(async () => {
    serial = await solve(['jacobi.ts']);
  }, TEST_TIMEOUT_MS);

  it('converges on one rank (local): the serial reference', () => {
    expect(serial).toMatchObject({ size: 1, backend: 'local' });
    expect(serial.residual).toBeLessThanOrEqual(1e-4);
    expect(serial.iterations).toBeGreaterThan(0);
  });

  // One world at a time (vitest runs a file's tests in order): 2 cores, and waiting ranks spin.
  it.each([
    ['shm', 2],
    ['shm', 3],
    ['tcp', 2],
    ['tcp', 3],
  ])(
    'gives the serial iterations and grid bits on %s, %i ranks',
    async (backend, ranks) => {
      const parallel = await collectiveRun(backend as string, ranks as number);
      expect(parallel).toEqual({ ...serial, size: ranks, backend });
    },
    TEST_TIMEOUT_MS,
  );
});
