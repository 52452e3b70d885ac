/**
 * A real multi-host launch (spec/backend-tcp.md §9.1): Open MPI's `mpirun --host` over 4 namespace
 * hosts, run from host 0, with fixtures/netns-agent.sh as its remote agent (plm_rsh_agent) in place of
 * ssh — it enters the named host's namespace, where mpirun's daemon (orted) then starts that host's
 * rank. Each rank reads only Open MPI's variables and the COLLECTIVE_TCP_COORDINATOR/TOKEN that
 * `mpirun -x` passes (the launcher's documented way to name rank 0, spec/selection.md §4), sees a
 * multi-node layout, connects to 10.213.0.1 by itself (tcp, named by COLLECTIVE_BACKEND: under mpirun `auto`
 * would pick the MPI backend) and agrees bit for bit on an allreduce.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv } from '../selection/fixtures/child-env.js';
import { referenceReduce, sameBits } from '../support/reference.js';
import { createHosts, type Hosts } from '../support/netns.js';

const RANK_PROGRAM = fileURLToPath(new URL('./fixtures/mpi-host-rank.ts', import.meta.url));
const AGENT = fileURLToPath(new URL('./fixtures/netns-agent.sh', import.meta.url));
const RANKS = 4;
/** mpirun's own limit, and the test's above it: the launch can never hang CI. */
const MPIRUN_TIMEOUT_SECS = 90;
const TEST_LIMIT_MS = (MPIRUN_TIMEOUT_SECS + 15) * 1000;
/** The ranks' collective timeout: a lost rank fails the launch long before mpirun's limit. */
const RANK_TIMEOUT_SECS = 30;

let hosts: Hosts | undefined;

afterEach(async () => {
  await hosts?.teardown(); // also kills mpirun's daemons: every process inside the namespaces
  hosts = undefined;
});

interface Launch {
  code: number | null;
  stdout: string;
  stderr: string;
}

function mpirun(world: Hosts): Promise<Launch> {
  const addresses = world.hosts.map((h) => h.address);
  const args = ['mpirun', '--timeout', String(MPIRUN_TIMEOUT_SECS)];
  // The agent in place of ssh; no tree spawn (mpirun starts every daemon itself); bootstrap traffic
  // (mpirun ↔ orted) only on the hosts' subnet.
  args.push('--mca', 'plm_rsh_agent', AGENT, '--mca', 'plm_rsh_no_tree_spawn', '1');
  args.push('--mca', 'oob_tcp_if_include', `${addresses[0]}/24`);
  args.push('--host', addresses.join(','), '-n', String(RANKS));
  args.push(
    '-x',
    'COLLECTIVE_TCP_COORDINATOR',
    '-x',
    'COLLECTIVE_TCP_TOKEN',
    '-x',
    'COLLECTIVE_TIMEOUT_SECS',
    // Under mpirun `auto` picks the MPI backend where its addon loads (spec/selection.md); this test is
    // about tcp across hosts, so it asks for tcp by name.
    '-x',
    'COLLECTIVE_BACKEND',
  );
  args.push(process.execPath, '--import', 'tsx', RANK_PROGRAM);
  const env = childEnv({
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    COLLECTIVE_NETNS_HOSTS: world.hosts.map((h) => `${h.address}=${h.namespace}`).join(' '),
    COLLECTIVE_TCP_COORDINATOR: addresses[0]!,
    COLLECTIVE_TCP_TOKEN: randomBytes(16).toString('hex'),
    COLLECTIVE_TIMEOUT_SECS: String(RANK_TIMEOUT_SECS),
    COLLECTIVE_BACKEND: 'tcp',
  });
  return new Promise((resolve, reject) => {
    const child = world.spawn(0, args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('mpirun across namespace hosts', () => {
  it(
    `mpirun --host over ${RANKS} hosts with a namespace agent: ranks find tcp's rank 0 on host 0 themselves and agree`,
    async () => {
      hosts = await createHosts({ count: RANKS });
      const launch = await mpirun(hosts);
      expect(launch.code, `stdout:\n${launch.stdout}\nstderr:\n${launch.stderr}`).toBe(0);
      const lines = launch.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((l) => l['rank']).sort()).toEqual([0, 1, 2, 3]);
      const contributions = [0, 1, 2, 3].map((r) => Float64Array.from([r + 1, 1 / (r + 3), r * 0.1]));
      const expected = new Float64Array(contributions[0]!.length);
      referenceReduce('float64', 'sum', contributions, expected);
      for (const line of lines) {
        const rank = line['rank'] as number;
        expect(line).toMatchObject({
          size: RANKS,
          backend: 'tcp',
          launcher: 'open-mpi',
          layout: 'multi-node',
          jobIdSource: 'PMIX_NAMESPACE',
          coordinator: { host: hosts.hosts[0]!.address, source: 'COLLECTIVE_TCP_COORDINATOR' },
          // Rank r ran on host r: mpirun placed one rank per --host entry, in order.
          address: hosts.hosts[rank]!.address,
        });
        // JSON round-trips float64 exactly, so equal numbers here are equal bits.
        expect(sameBits(Float64Array.from(line['sum'] as number[]), expected), `rank ${rank}`).toBe(true);
      }
    },
    TEST_LIMIT_MS,
  );
});
