/**
 * A machine without MPI (spec/backend-mpi.md §2): the install-time build records why it did not build,
 * the package still works, availableBackends() reports mpi unavailable with that reason, `collective
 * doctor` prints it, and COLLECTIVE_BACKEND=mpi fails with BackendNotAvailable naming it. Run on a
 * copy of the package whose PATH has node but no mpicc or pkg-config, so it holds on any machine.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
let copy: string;
let env: Record<string, string>;

function node(args: readonly string[]) {
  return spawnSync(process.execPath, args, { cwd: copy, env, encoding: 'utf8' });
}

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'collective-no-mpi-'));
  for (const part of ['src', 'scripts', 'bin', 'native/mpi/src', 'native/mpi/binding.gyp', 'package.json']) {
    cpSync(join(ROOT, part), join(copy, part), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  // A PATH with node and nothing else: no mpicc, no pkg-config.
  const bin = join(copy, 'only-node');
  spawnSync('mkdir', ['-p', bin]);
  symlinkSync(process.execPath, join(bin, 'node'));
  env = { PATH: bin, HOME: process.env['HOME'] ?? copy };
});

afterAll(() => {
  rmSync(copy, { recursive: true, force: true });
});

describe('without MPI', () => {
  it('the install step succeeds and records why the addon was not built', () => {
    const install = node(['scripts/build-mpi.mjs']);
    expect(install.status, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/MPI backend addon no-mpi: no MPI found/);
    const record = JSON.parse(readFileSync(join(copy, 'native/mpi/build-status.json'), 'utf8'));
    expect(record).toMatchObject({ state: 'no-mpi' });
    expect(record.reason).toMatch(/libopenmpi-dev/);
  });

  it('availableBackends() reports mpi unavailable with the reason; the others are unaffected', () => {
    const program = `
      const { availableBackends } = await import('./src/index.ts');
      console.log(JSON.stringify(availableBackends()));`;
    const run = node(['--import', 'tsx', '--input-type=module', '-e', program]);
    expect(run.status, run.stderr).toBe(0);
    const backends = JSON.parse(run.stdout) as Array<{ name: string; available: boolean; reason?: string }>;
    const mpi = backends.find((b) => b.name === 'mpi');
    expect(mpi).toMatchObject({ available: false });
    expect(mpi?.reason).toMatch(/not built \(no-mpi\): no MPI found/);
    for (const name of ['local', 'shm', 'tcp']) {
      expect(backends.find((b) => b.name === name)?.available, name).toBe(true);
    }
  });

  it('collective doctor says why, and an explicit mpi fails with BackendNotAvailable; auto under mpirun warns and uses tcp', () => {
    const doctor = node([
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { main } = await import('./src/launch/cli.ts'); process.exitCode = await main(['doctor']);`,
    ]);
    expect(doctor.stdout).toMatch(/mpi\s+unavailable: the MPI addon is not built \(no-mpi\): no MPI found/);
    const explicit = node([
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { init } = await import('./src/index.ts');
       try { await init({ backend: 'mpi' }); } catch (e) { console.log(JSON.stringify({ kind: e.kind, message: e.message })); }`,
    ]);
    const error = JSON.parse(explicit.stdout);
    expect(error.kind).toBe('BackendNotAvailable');
    expect(error.message).toMatch(/no MPI found/);
    const underMpirun = node([
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { describeEnvironment } = await import('./src/index.ts');
       const r = describeEnvironment({ env: { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_SIZE: '2' } });
       console.log(JSON.stringify({ backend: r.selection?.backend, reasons: r.selection?.reasons, warnings: r.warnings }));`,
    ]);
    const report = JSON.parse(underMpirun.stdout);
    expect(report.backend).toBe('tcp');
    expect(report.reasons.join('\n')).toMatch(/open-mpi.*mpi backend cannot run: .*no MPI found/);
    expect(report.warnings.map((w: { code: string }) => w.code)).toContain('COLLECTIVE_MPI_UNAVAILABLE');
  });
});
