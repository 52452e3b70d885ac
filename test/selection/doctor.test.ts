/** `collective doctor` run as a real child process, in the environments a launcher would give it. */
import { describe, expect, it } from 'vitest';
import { BACKEND_TABLE } from '../../src/selection/backends.js';
import { childEnv } from './fixtures/child-env.js';
import { runCollective, type CliResult } from '../support/collective-cli.js';

function collective(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCollective(args, childEnv(env));
}

describe('collective doctor', () => {
  it('--json under a one-node mpirun: tcp at 127.0.0.1 and why', async () => {
    const ran = await collective(['doctor', '--json'], {
      // tcp named: auto would pick mpi where its addon loads (spec/selection.md §5.1 step 2).
      COLLECTIVE_BACKEND: 'tcp',
      OMPI_COMM_WORLD_RANK: '1',
      OMPI_COMM_WORLD_SIZE: '4',
      OMPI_COMM_WORLD_LOCAL_SIZE: '4',
      COLLECTIVE_TCP_TOKEN: 'secret-token',
    });
    expect(ran.code, ran.stderr).toBe(0);
    const report = JSON.parse(ran.stdout);
    expect(report).toMatchObject({
      launcher: 'open-mpi',
      rank: { value: 1, source: 'OMPI_COMM_WORLD_RANK' },
      size: { value: 4, source: 'OMPI_COMM_WORLD_SIZE' },
      nodeLayout: { value: 'single-node' },
      coordinator: { host: '127.0.0.1', port: 29500 },
      selection: { backend: 'tcp' },
      error: null,
    });
    expect(report.selection.reasons.join('\n')).toMatch(/one node/);
    expect(ran.stdout).not.toContain('secret-token');
    expect(report.backends.map((b: { name: string }) => b.name)).toEqual(
      BACKEND_TABLE.map((row) => row.name),
    );
  });

  it('prints the error init() would raise, as toJSON(), and exits 1', async () => {
    const ran = await collective(['doctor', '--json'], {
      SLURM_PROCID: '0',
      SLURM_NTASKS: '8',
      SLURM_NNODES: '2',
      SLURM_LAUNCH_NODE_IPADDR: '10.0.0.7',
    });
    expect(ran.code).toBe(1);
    const report = JSON.parse(ran.stdout);
    expect(report.launcher).toBe('slurm');
    expect(report.launcherVariables).toMatchObject({ SLURM_LAUNCH_NODE_IPADDR: '10.0.0.7' });
    expect(report.nodeLayout).toEqual({ value: 'multi-node', source: 'SLURM_NNODES=2' });
    expect(report.selection).toBeNull();
    expect(Object.keys(report.error).sort()).toEqual(['context', 'kind', 'message', 'suggestion']);
    expect(report.error.kind).toBe('MissingConfiguration');
    expect(report.error.context.missing[0].variable).toBe('COLLECTIVE_TCP_COORDINATOR');
  });

  it('human form names the pick and the reason, and a malformed value', async () => {
    const ok = await collective(['doctor'], {});
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('launcher:      none');
    expect(ok.stdout).toContain('init() would pick: local');
    const bad = await collective(['doctor'], { COLLECTIVE_RANK: 'abc', COLLECTIVE_SIZE: '2' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(
      "init() would fail: BackendError IncompatibleSettings\n  COLLECTIVE_RANK='abc'",
    );
  });

  it('shows the fatal timeout and the stall warning with their sources', async () => {
    const json = await collective(['doctor', '--json'], { COLLECTIVE_STALL_WARNING_SECS: '0' });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).timeouts).toEqual({
      timeoutSecs: { value: 1800, source: 'default COLLECTIVE_TIMEOUT_SECS' },
      stallWarningSecs: { value: 0, source: 'COLLECTIVE_STALL_WARNING_SECS' },
      connectTimeoutSecs: { value: 30, source: 'default COLLECTIVE_CONNECT_TIMEOUT_SECS' },
    });
    const text = await collective(['doctor'], { COLLECTIVE_TIMEOUT_SECS: '120' });
    expect(text.stdout).toContain('timeout:       120 s  (from COLLECTIVE_TIMEOUT_SECS)');
    expect(text.stdout).toContain(
      'stall warning: 60 s, repeated  (default; COLLECTIVE_STALL_WARNING_SECS is not set)',
    );
    const off = await collective(['doctor'], { COLLECTIVE_STALL_WARNING_SECS: '0' });
    expect(off.stdout).toContain('stall warning: off  (from COLLECTIVE_STALL_WARNING_SECS)');
    const bad = await collective(['doctor', '--json'], { COLLECTIVE_STALL_WARNING_SECS: '-5' });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error.context.variable).toBe('COLLECTIVE_STALL_WARNING_SECS');
  });

  it('shows the job identity, or warns that there is none (text and --json)', async () => {
    // tcp named: its job identity is what this case tests; auto would pick mpi where its addon loads.
    const mpirun = {
      COLLECTIVE_BACKEND: 'tcp',
      OMPI_COMM_WORLD_RANK: '0',
      OMPI_COMM_WORLD_SIZE: '2',
      OMPI_COMM_WORLD_LOCAL_SIZE: '2',
    };
    const named = await collective(['doctor', '--json'], { ...mpirun, PMIX_NAMESPACE: '1099366401' });
    expect(named.code, named.stderr).toBe(0);
    const report = JSON.parse(named.stdout);
    expect(report.jobId).toEqual({ value: '1099366401', source: 'PMIX_NAMESPACE' });
    expect(report.warnings).toEqual([]);
    const text = await collective(['doctor'], { ...mpirun, COLLECTIVE_JOB_ID: 'train-42' });
    expect(text.stdout).toContain('job id:        train-42  (from COLLECTIVE_JOB_ID)');
    const anonymous = await collective(['doctor', '--json'], mpirun);
    expect(anonymous.code, anonymous.stderr).toBe(0);
    const bare = JSON.parse(anonymous.stdout);
    expect(bare.jobId).toBeNull();
    expect(bare.warnings.map((w: { code: string }) => w.code)).toEqual(['COLLECTIVE_NO_JOB_ID']);
    const human = await collective(['doctor'], mpirun);
    expect(human.stdout).toContain('job id:        (none)');
    expect(human.stdout).toMatch(
      /warning COLLECTIVE_NO_JOB_ID: .*same port could join each other.*COLLECTIVE_JOB_ID/,
    );
  });

  it('shows the tcp algorithm with its source, and a bad one as the error init() would raise', async () => {
    const json = await collective(['doctor', '--json'], { COLLECTIVE_TCP_ALGORITHM: 'star' });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).algorithm).toEqual({ value: 'star', source: 'COLLECTIVE_TCP_ALGORITHM' });
    const text = await collective(['doctor'], {});
    expect(text.stdout).toContain('tcp algorithm: auto  (default; COLLECTIVE_TCP_ALGORITHM is not set)');
    const tcp = { COLLECTIVE_RANK: '1', COLLECTIVE_SIZE: '2', COLLECTIVE_TCP_COORDINATOR: 'h' };
    const bad = await collective(['doctor', '--json'], { ...tcp, COLLECTIVE_TCP_ALGORITHM: 'ring' });
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.algorithm).toBeNull();
    expect(report.error.kind).toBe('IncompatibleSettings');
    expect(report.error.context.variable).toBe('COLLECTIVE_TCP_ALGORITHM');
    expect(report.error.message).toContain('star, direct or auto');
  });

  it('shows a bracketed IPv6 coordinator bracketed', async () => {
    const ran = await collective(['doctor', '--json'], {
      COLLECTIVE_RANK: '1',
      COLLECTIVE_SIZE: '2',
      COLLECTIVE_TCP_COORDINATOR: '[::1]:33523',
      COLLECTIVE_JOB_ID: 'doctor-test',
    });
    const report = JSON.parse(ran.stdout);
    expect(report.coordinator).toMatchObject({ host: '::1', port: 33523, address: '[::1]:33523' });
  });

  it('reports an ambiguous IPv6 coordinator as the error init() would raise', async () => {
    const ran = await collective(['doctor', '--json'], {
      COLLECTIVE_RANK: '1',
      COLLECTIVE_SIZE: '2',
      COLLECTIVE_TCP_COORDINATOR: '::1:33523',
    });
    expect(ran.code).toBe(1);
    const report = JSON.parse(ran.stdout);
    expect(report.selection).toBeNull();
    expect(report.coordinator).toBeNull();
    expect(report.error.kind).toBe('IncompatibleSettings');
    expect(report.error.context.variable).toBe('COLLECTIVE_TCP_COORDINATOR');
    expect(report.error.suggestion).toContain('[::1]:33523');
  });

  it('reports an unspecified coordinator in any spelling as the error init() would raise', async () => {
    const ran = await collective(['doctor', '--json'], {
      COLLECTIVE_RANK: '0',
      COLLECTIVE_SIZE: '2',
      COLLECTIVE_TCP_COORDINATOR: '[::0]:33523',
      COLLECTIVE_TCP_TOKEN: 'doctor-token',
    });
    expect(ran.code).toBe(1);
    const report = JSON.parse(ran.stdout);
    expect(report.error.kind).toBe('IncompatibleSettings');
    expect(report.error.context).toMatchObject({ variable: 'COLLECTIVE_TCP_COORDINATOR', normalised: '::' });
    expect(report.error.message).toContain('all interfaces');
    expect(report.error.suggestion).toContain('COLLECTIVE_TCP_BIND_ADDR=0.0.0.0');
  });

  it.each([
    [{}, '(no launcher detected)'],
    [{ SLURM_PROCID: '0', SLURM_NTASKS: '4' }, '(SLURM_NNODES is not set)'],
    [{ COLLECTIVE_RANK: '1', COLLECTIVE_SIZE: '2', COLLECTIVE_TCP_COORDINATOR: '10.0.0.1:3000' }, null],
  ])('reads as English, in aligned columns (%j)', async (env, layoutReason) => {
    const ran = await collective(['doctor'], env);
    const facts = ran.stdout.split('\n\n')[0]!.split('\n');
    // "(from X)" only where X is a variable or an option the value was read from.
    expect(ran.stdout).not.toMatch(/\(from (no |default |[^)]* is not set)/);
    expect(ran.stdout).toContain('timeout:       1800 s  (default; COLLECTIVE_TIMEOUT_SECS is not set)');
    if (layoutReason !== null) expect(ran.stdout).toContain(`node layout:   unknown  ${layoutReason}`);
    const columns = new Set(facts.map((line) => /^[a-z ]+: +/.exec(line)?.[0].length));
    expect([...columns], ran.stdout).toEqual([15]);
  });

  it('rejects an unknown flag and an unknown command with usage (exit 2)', async () => {
    const flag = await collective(['doctor', '--jsn'], {});
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("'--jsn'");
    const command = await collective(['doctr'], {});
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("unknown command 'doctr'");
    expect(command.stderr).toContain('doctor');
  });
});
