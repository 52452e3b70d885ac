/**
 * The selection table (spec/selection.md §5–§6): environments in, the chosen backend config or the
 * exact BackendError out. The chain is pure, so each row runs without processes or sockets.
 */
import { describe, expect, it } from 'vitest';
import type { ShmGroupHandle } from '../../src/backends/shm/index.js';
import { BackendError, type BackendErrorKind } from '../../src/communicator/errors.js';
import { resolveSelection } from '../../src/selection/chain.js';
import type { InitOptions } from '../../src/selection/options.js';
import { SHM_WORKER_DATA_KEY } from '../../src/selection/shm-group.js';
import type { EnvRecord } from '../../src/selection/values.js';

interface Row {
  name: string;
  env?: EnvRecord;
  options?: InitOptions;
  workerData?: unknown;
  isMainThread?: boolean;
  picks?: Record<string, unknown>;
  /** Config fields that must be absent. */
  lacks?: string[];
  /** The error kind, the variable it names (context.variable or a missing entry) and message fragments. */
  fails?: { kind: BackendErrorKind; variable?: string; says?: string[] };
}

// Selection never looks inside the handle (the shm backend validates it when it connects).
const group = { fake: 'opaque handle' } as unknown as ShmGroupHandle;
const inShmGroup = (rank: number) => ({ [SHM_WORKER_DATA_KEY]: { group, rank } });
const openMpi = (rank: number, size: number, localSize?: number): EnvRecord => ({
  OMPI_COMM_WORLD_RANK: String(rank),
  OMPI_COMM_WORLD_SIZE: String(size),
  ...(localSize !== undefined ? { OMPI_COMM_WORLD_LOCAL_SIZE: String(localSize) } : {}),
});
const hand = (rank: number, size: number, more: EnvRecord = {}): EnvRecord => ({
  COLLECTIVE_RANK: String(rank),
  COLLECTIVE_SIZE: String(size),
  ...more,
});

const ROWS: Row[] = [
  { name: 'nothing set → local', env: {}, picks: { backend: 'local' } },
  { name: 'COLLECTIVE_BACKEND=local', env: { COLLECTIVE_BACKEND: 'local' }, picks: { backend: 'local' } },
  {
    name: 'unknown backend name lists what is available',
    env: { COLLECTIVE_BACKEND: 'nccl' },
    fails: {
      kind: 'InvalidBackend',
      variable: 'COLLECTIVE_BACKEND',
      says: ['nccl', 'auto, local, shm, tcp'],
    },
  },
  {
    name: 'unknown options.backend names the option',
    options: { backend: 'gloo' as never },
    fails: { kind: 'InvalidBackend', variable: 'options.backend' },
  },
  {
    name: 'shm outside a group',
    env: { COLLECTIVE_BACKEND: 'shm' },
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_BACKEND', says: ['not in a shm group'] },
  },
  {
    name: 'COLLECTIVE_RANK=abc',
    env: hand(0, 2, { COLLECTIVE_RANK: 'abc', COLLECTIVE_TCP_COORDINATOR: 'h' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_RANK', says: ["'abc'"] },
  },
  {
    name: 'COLLECTIVE_SIZE=0',
    env: { COLLECTIVE_SIZE: '0' },
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_SIZE', says: ["'0'", 'integer ≥ 1'] },
  },
  {
    name: 'rank ≥ size',
    env: hand(2, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_RANK',
      says: ['not below COLLECTIVE_SIZE=2'],
    },
  },
  {
    name: 'port 70000',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_TCP_PORT: '70000' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_PORT', says: ["'70000'"] },
  },
  {
    name: 'port 70000 inside the coordinator address',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h:70000' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_COORDINATOR', says: ["'h:70000'"] },
  },
  {
    name: 'port 0 (ephemeral) on rank 0',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: '127.0.0.1:0' }),
    picks: { backend: 'tcp', rank: 0, host: '127.0.0.1', port: 0 },
  },
  {
    name: 'port 0 on a rank other than 0',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '127.0.0.1', COLLECTIVE_TCP_PORT: '0' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_PORT', says: ['only rank 0'] },
  },
  {
    name: 'a timeout longer than a Node.js timer can wait',
    env: { COLLECTIVE_CONNECT_TIMEOUT_SECS: '1e9' },
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_CONNECT_TIMEOUT_SECS',
      says: ['at most 2147483'],
    },
  },
  {
    name: 'timeout must be a positive number',
    env: { COLLECTIVE_TIMEOUT_SECS: '-1' },
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TIMEOUT_SECS' },
  },
  {
    name: 'defaults: a fatal timeout of 1800 s and a stall warning after 60 s',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1' }),
    picks: { backend: 'tcp', timeoutSecs: 1800, stallWarningSecs: 60 },
  },
  {
    name: 'COLLECTIVE_STALL_WARNING_SECS sets the stall warning; 0 disables it',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1', COLLECTIVE_STALL_WARNING_SECS: '0' }),
    picks: { backend: 'tcp', stallWarningSecs: 0 },
  },
  {
    name: 'options.stallWarningSecs overrides the variable',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1', COLLECTIVE_STALL_WARNING_SECS: '5' }),
    options: { stallWarningSecs: 2.5 },
    picks: { backend: 'tcp', stallWarningSecs: 2.5 },
  },
  {
    name: 'the stall warning reaches the shm config',
    env: { COLLECTIVE_STALL_WARNING_SECS: '7' },
    workerData: inShmGroup(1),
    isMainThread: false,
    picks: { backend: 'shm', rank: 1, stallWarningSecs: 7 },
  },
  {
    name: 'a negative stall warning',
    env: { COLLECTIVE_STALL_WARNING_SECS: '-1' },
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_STALL_WARNING_SECS',
      says: ["'-1'", '0 disables'],
    },
  },
  {
    name: 'a stall warning that is not a number',
    env: { COLLECTIVE_STALL_WARNING_SECS: 'soon' },
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_STALL_WARNING_SECS', says: ["'soon'"] },
  },
  {
    name: 'a stall warning longer than a Node.js timer can wait',
    options: { stallWarningSecs: 1e9 },
    fails: { kind: 'IncompatibleSettings', variable: 'options.stallWarningSecs', says: ['at most 2147483'] },
  },
  {
    name: 'an empty stall warning variable',
    env: { COLLECTIVE_STALL_WARNING_SECS: ' ' },
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_STALL_WARNING_SECS' },
  },
  {
    name: 'hand-set tcp with a coordinator',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1', COLLECTIVE_TIMEOUT_SECS: '2.5' }),
    picks: { backend: 'tcp', rank: 1, size: 2, host: '10.0.0.1', port: 29500, timeoutSecs: 2.5 },
  },
  {
    name: 'port inside the coordinator address',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1:4000' }),
    picks: { backend: 'tcp', host: '10.0.0.1', port: 4000 },
  },
  {
    name: 'IPv6 coordinator',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: '[::1]:4000' }),
    picks: { backend: 'tcp', host: '::1', port: 4000 },
  },
  {
    name: 'an unbracketed IPv6 address with a port is ambiguous: bracket it',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '::1:33523' }),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ["'::1:33523'", '[::1]:33523'],
    },
  },
  {
    name: 'an IPv6 address whose last group reads as a port: both readings offered',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '::1:8080' }),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ['[::1]:8080', '[::1:8080]'],
    },
  },
  {
    name: 'an ambiguous IPv6 coordinator in the options names the option',
    env: hand(1, 2),
    options: { coordinator: 'fe80::1:29501' },
    fails: { kind: 'IncompatibleSettings', variable: 'options.coordinator', says: ['[fe80::1]:29501'] },
  },
  {
    name: 'a bracketed IPv6 address with a port',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '[::1]:33523' }),
    picks: { backend: 'tcp', host: '::1', port: 33523 },
  },
  {
    name: 'a bare IPv6 address',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '::1' }),
    picks: { backend: 'tcp', host: '::1', port: 29500 },
  },
  {
    name: 'a bare IPv4-mapped IPv6 address and one with a zone',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '::ffff:10.0.0.1' }),
    options: { port: 4000 },
    picks: { backend: 'tcp', host: '::ffff:10.0.0.1', port: 4000 },
  },
  {
    name: 'an IPv6 address with a zone',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '[fe80::1%eth0]:4000' }),
    picks: { backend: 'tcp', host: 'fe80::1%eth0', port: 4000 },
  },
  {
    name: 'several colons that are no IPv6 address',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: 'node1:4000:5' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_COORDINATOR', says: ["'node1:4000:5'"] },
  },
  {
    name: 'a host name with a space',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: 'node 1' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_COORDINATOR', says: ["'node 1'"] },
  },
  {
    name: 'an empty bracket',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '[]:4000' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_COORDINATOR' },
  },
  {
    name: 'a bracketed address that is no IPv6 address',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: '[node1]:4000' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_COORDINATOR', says: ['node1:4000'] },
  },
  {
    name: 'a bind address with a port: the port has its own variable',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1', COLLECTIVE_TCP_BIND_ADDR: '0.0.0.0:4000' }),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_TCP_BIND_ADDR',
      says: ['COLLECTIVE_TCP_PORT'],
    },
  },
  {
    name: 'a bracketed IPv6 bind address',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: '10.0.0.1', COLLECTIVE_TCP_BIND_ADDR: '[::]' }),
    options: { allowInsecure: true },
    picks: { backend: 'tcp', bindAddr: '::' },
  },
  // Every spelling of the unspecified address as the coordinator (spec/selection.md §3.2).
  ...['0', '0.0.0', '[::0]', '[0:0:0:0:0:0:0:0]', '[::ffff:0.0.0.0]'].map((spelling): Row => ({
    name: `rank 0 with COLLECTIVE_TCP_COORDINATOR=${spelling}:4000 would listen on all interfaces`,
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: `${spelling}:4000`, COLLECTIVE_TCP_TOKEN: 't' }),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ['unspecified address', 'all interfaces'],
    },
  })),
  {
    name: 'a worker with MASTER_ADDR=0 has nothing to connect to',
    env: { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: '0', MASTER_PORT: '1234' },
    fails: { kind: 'IncompatibleSettings', variable: 'MASTER_ADDR', says: ['cannot connect'] },
  },
  {
    name: 'an unspecified coordinator with an explicit bind address on rank 0 is on purpose',
    env: hand(0, 2, {
      COLLECTIVE_TCP_COORDINATOR: '[::0]:4000',
      COLLECTIVE_TCP_BIND_ADDR: '::',
      COLLECTIVE_TCP_TOKEN: 't',
    }),
    picks: { backend: 'tcp', host: '::0', bindAddr: '::' },
  },
  {
    name: 'MASTER_ADDR with a port: the port goes in MASTER_PORT',
    env: { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: '10.1.1.1:1234' },
    fails: { kind: 'IncompatibleSettings', variable: 'MASTER_ADDR', says: ['MASTER_PORT'] },
  },
  {
    name: 'a bare IPv6 MASTER_ADDR',
    env: { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'fd00::2', MASTER_PORT: '1234' },
    picks: { backend: 'tcp', host: 'fd00::2', port: 1234 },
  },
  {
    name: 'two ports that disagree',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: 'h:4000', COLLECTIVE_TCP_PORT: '4001' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_TCP_PORT', says: ['4000', '4001'] },
  },
  {
    name: 'hand-set ranks without a coordinator',
    env: hand(1, 2),
    fails: { kind: 'MissingConfiguration', variable: 'COLLECTIVE_TCP_COORDINATOR', says: ['export'] },
  },
  {
    name: 'explicit tcp with nothing set lists every missing variable',
    env: { COLLECTIVE_BACKEND: 'tcp' },
    fails: {
      kind: 'MissingConfiguration',
      says: ['COLLECTIVE_RANK', 'COLLECTIVE_SIZE', 'COLLECTIVE_TCP_COORDINATOR', 'export COLLECTIVE_SIZE=2'],
    },
  },
  {
    name: 'a rank without a size',
    env: { COLLECTIVE_RANK: '0' },
    fails: { kind: 'MissingConfiguration', variable: 'COLLECTIVE_SIZE' },
  },
  {
    name: 'explicit local with several ranks',
    env: hand(0, 2, { COLLECTIVE_BACKEND: 'local' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_SIZE' },
  },
  {
    name: 'mpirun on one node → tcp at 127.0.0.1',
    env: openMpi(1, 4, 4),
    picks: { backend: 'tcp', rank: 1, size: 4, host: '127.0.0.1', port: 29500 },
  },
  {
    name: 'mpirun on one node with COLLECTIVE_TCP_PORT',
    env: { ...openMpi(0, 4, 4), COLLECTIVE_TCP_PORT: '31000' },
    picks: { backend: 'tcp', host: '127.0.0.1', port: 31000 },
  },
  {
    name: 'mpirun across nodes without a coordinator',
    env: openMpi(0, 4, 2),
    fails: {
      kind: 'MissingConfiguration',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ['mpirun -x', 'several nodes'],
    },
  },
  {
    name: 'mpirun that does not say the layout',
    env: openMpi(0, 4),
    fails: {
      kind: 'MissingConfiguration',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ['OMPI_COMM_WORLD_LOCAL_SIZE'],
    },
  },
  {
    name: 'mpirun across nodes with a coordinator',
    env: { ...openMpi(3, 4, 2), COLLECTIVE_TCP_COORDINATOR: 'node1' },
    picks: { backend: 'tcp', rank: 3, size: 4, host: 'node1' },
  },
  {
    name: 'mpirun -n 1 → local',
    env: openMpi(0, 1, 1),
    picks: { backend: 'local' },
  },
  {
    name: 'COLLECTIVE_RANK contradicting mpirun',
    env: { ...openMpi(2, 4, 4), COLLECTIVE_RANK: '0' },
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_RANK', says: ['OMPI_COMM_WORLD_RANK=2'] },
  },
  {
    name: 'malformed launcher variable',
    env: { OMPI_COMM_WORLD_RANK: 'x', OMPI_COMM_WORLD_SIZE: '4' },
    fails: { kind: 'IncompatibleSettings', variable: 'OMPI_COMM_WORLD_RANK' },
  },
  {
    name: 'mpirun inside a Slurm batch script: the MPI ranks win',
    env: { ...openMpi(2, 4, 4), SLURM_PROCID: '0', SLURM_NTASKS: '4', SLURM_NNODES: '1' },
    picks: { backend: 'tcp', rank: 2, size: 4 },
  },
  {
    name: 'MPICH/Intel MPI on one node',
    env: { PMI_RANK: '1', PMI_SIZE: '2', MPI_LOCALNRANKS: '2' },
    picks: { backend: 'tcp', rank: 1, size: 2, host: '127.0.0.1' },
  },
  {
    name: 'MPICH without a layout',
    env: { PMI_RANK: '1', PMI_SIZE: '2' },
    fails: { kind: 'MissingConfiguration', variable: 'COLLECTIVE_TCP_COORDINATOR', says: ['mpiexec -genv'] },
  },
  {
    name: 'srun on one node',
    env: { SLURM_PROCID: '3', SLURM_NTASKS: '4', SLURM_NNODES: '1', SLURM_LAUNCH_NODE_IPADDR: '10.9.9.9' },
    picks: { backend: 'tcp', rank: 3, size: 4, host: '127.0.0.1' },
  },
  {
    name: 'srun across nodes: the launch node is not taken as the coordinator',
    env: { SLURM_PROCID: '0', SLURM_NTASKS: '4', SLURM_NNODES: '2', SLURM_LAUNCH_NODE_IPADDR: '10.9.9.9' },
    fails: {
      kind: 'MissingConfiguration',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ['scontrol show hostnames'],
    },
  },
  {
    name: 'srun without SLURM_NTASKS',
    env: { SLURM_PROCID: '0' },
    fails: { kind: 'MissingConfiguration', variable: 'SLURM_NTASKS' },
  },
  {
    name: 'torchrun-style variables',
    env: { RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', MASTER_ADDR: '10.1.1.1', MASTER_PORT: '1234' },
    picks: { backend: 'tcp', rank: 1, size: 2, host: '10.1.1.1', port: 1234 },
  },
  {
    name: "real torchrun: the agent's store holds MASTER_PORT",
    env: {
      RANK: '0',
      WORLD_SIZE: '2',
      MASTER_ADDR: 'h',
      MASTER_PORT: '29500',
      TORCHELASTIC_USE_AGENT_STORE: 'True',
    },
    fails: { kind: 'MissingConfiguration', variable: 'COLLECTIVE_TCP_PORT' },
  },
  {
    name: 'real torchrun with COLLECTIVE_TCP_PORT',
    env: {
      RANK: '0',
      WORLD_SIZE: '2',
      MASTER_ADDR: 'h',
      MASTER_PORT: '29500',
      TORCHELASTIC_USE_AGENT_STORE: 'True',
      COLLECTIVE_TCP_PORT: '29600',
    },
    picks: { backend: 'tcp', host: 'h', port: 29600 },
  },
  {
    name: 'RANK alone is not a launcher',
    env: { RANK: '3' },
    picks: { backend: 'local' },
  },
  {
    name: 'options override the environment',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    options: { rank: 1, coordinator: 'other:5000', timeoutSecs: 7 },
    picks: { backend: 'tcp', rank: 1, size: 2, host: 'other', port: 5000, timeoutSecs: 7 },
  },
  {
    name: 'token, bind address and the insecure opt-out reach the tcp config',
    env: hand(0, 2, {
      COLLECTIVE_TCP_COORDINATOR: '10.0.0.1',
      COLLECTIVE_TCP_TOKEN: 't0k',
      COLLECTIVE_TCP_BIND_ADDR: '0.0.0.0',
    }),
    options: { allowInsecure: false, connectTimeoutSecs: 3 },
    picks: { backend: 'tcp', token: 't0k', bindAddr: '0.0.0.0', allowInsecure: false, connectTimeoutSecs: 3 },
  },
  {
    name: 'the tcp algorithm defaults to auto',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    picks: { backend: 'tcp', algorithm: 'auto' },
  },
  {
    name: 'COLLECTIVE_TCP_ALGORITHM reaches the tcp config (any case, trimmed)',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_TCP_ALGORITHM: ' Direct ' }),
    picks: { backend: 'tcp', algorithm: 'direct' },
  },
  {
    name: 'options.algorithm overrides COLLECTIVE_TCP_ALGORITHM',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_TCP_ALGORITHM: 'direct' }),
    options: { algorithm: 'star' },
    picks: { backend: 'tcp', algorithm: 'star' },
  },
  {
    name: 'a bad COLLECTIVE_TCP_ALGORITHM names the variable and the accepted values',
    env: hand(1, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_TCP_ALGORITHM: 'ring' }),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_TCP_ALGORITHM',
      says: ["COLLECTIVE_TCP_ALGORITHM='ring'", 'star, direct or auto'],
    },
  },
  {
    name: 'a bad options.algorithm names the option',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    options: { algorithm: 'fast' as never },
    fails: { kind: 'IncompatibleSettings', variable: 'options.algorithm', says: ['star, direct or auto'] },
  },
  {
    name: 'ws carries no algorithm (it has only the star)',
    env: hand(0, 2, { COLLECTIVE_BACKEND: 'ws', COLLECTIVE_TCP_COORDINATOR: 'h' }),
    picks: { backend: 'ws' },
    lacks: ['algorithm'],
  },
  {
    name: 'a malformed option names the option',
    options: { backend: 'tcp', rank: -1, size: 2, coordinator: 'h' },
    fails: { kind: 'IncompatibleSettings', variable: 'options.rank' },
  },
  {
    name: 'a thread in a shm group → shm',
    workerData: inShmGroup(2),
    isMainThread: false,
    picks: { backend: 'shm', rank: 2, timeoutSecs: 1800, stallWarningSecs: 60 },
  },
  {
    name: 'job identity: Open MPI (PMIx namespace)',
    env: { ...openMpi(1, 2, 2), PMIX_NAMESPACE: '1099366401', OMPI_MCA_ess_base_jobid: '1099366401' },
    picks: { backend: 'tcp', jobId: '1099366401', jobIdSource: 'PMIX_NAMESPACE' },
  },
  {
    name: 'job identity: Open MPI without PMIx',
    env: { ...openMpi(1, 2, 2), OMPI_MCA_ess_base_jobid: '77' },
    picks: { backend: 'tcp', jobId: '77', jobIdSource: 'OMPI_MCA_ess_base_jobid' },
  },
  {
    name: 'job identity: Slurm job and step',
    env: {
      SLURM_PROCID: '0',
      SLURM_NTASKS: '2',
      SLURM_NNODES: '1',
      SLURM_JOB_ID: '4242',
      SLURM_STEP_ID: '3',
    },
    picks: { backend: 'tcp', jobId: '4242.3', jobIdSource: 'SLURM_JOB_ID.SLURM_STEP_ID' },
  },
  {
    name: 'job identity: torchrun run id',
    env: { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'h', TORCHELASTIC_RUN_ID: 'f3a9' },
    picks: { backend: 'tcp', jobId: 'f3a9', jobIdSource: 'TORCHELASTIC_RUN_ID' },
  },
  {
    name: "job identity: torchrun's default run id 'none' identifies nothing",
    env: { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'h', TORCHELASTIC_RUN_ID: 'none' },
    picks: { backend: 'tcp' },
    lacks: ['jobId'],
  },
  {
    name: 'job identity: a PMI-1 process manager that exports PMI_KVSNAME',
    env: { PMI_RANK: '1', PMI_SIZE: '2', MPI_LOCALNRANKS: '2', PMI_KVSNAME: 'kvs_812_0' },
    picks: { backend: 'tcp', jobId: 'kvs_812_0', jobIdSource: 'PMI_KVSNAME' },
  },
  {
    name: "job identity: Hydra inside a Slurm allocation does not borrow the allocation's id",
    env: {
      PMI_RANK: '1',
      PMI_SIZE: '2',
      MPI_LOCALNRANKS: '2',
      SLURM_PROCID: '0',
      SLURM_NTASKS: '1',
      SLURM_JOB_ID: '9',
    },
    picks: { backend: 'tcp', rank: 1 },
    lacks: ['jobId'],
  },
  {
    name: "job identity: mpirun inside a Slurm batch script takes mpirun's",
    env: {
      ...openMpi(1, 2, 2),
      PMIX_NAMESPACE: 'ns',
      SLURM_PROCID: '0',
      SLURM_NTASKS: '1',
      SLURM_JOB_ID: '9',
      SLURM_STEP_ID: 'batch',
    },
    picks: { backend: 'tcp', jobId: 'ns', jobIdSource: 'PMIX_NAMESPACE' },
  },
  {
    name: "job identity: COLLECTIVE_JOB_ID wins over the launcher's",
    env: { ...openMpi(1, 2, 2), PMIX_NAMESPACE: 'ns', COLLECTIVE_JOB_ID: 'mine' },
    picks: { backend: 'tcp', jobId: 'mine', jobIdSource: 'COLLECTIVE_JOB_ID' },
  },
  {
    name: 'job identity: options.jobId wins over COLLECTIVE_JOB_ID',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: 'env' }),
    options: { jobId: 'opt' },
    picks: { backend: 'tcp', jobId: 'opt', jobIdSource: 'options.jobId' },
  },
  {
    name: 'job identity: none for a hand launch without COLLECTIVE_JOB_ID',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    picks: { backend: 'tcp' },
    lacks: ['jobId', 'jobIdSource'],
  },
  {
    name: 'job identity: an empty COLLECTIVE_JOB_ID',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: '  ' }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_JOB_ID' },
  },
  {
    name: 'job identity: a COLLECTIVE_JOB_ID longer than the handshake carries',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: 'x'.repeat(257) }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_JOB_ID', says: ['at most 128 UTF-8 bytes'] },
  },
  // The handshake carries at most 128 UTF-8 bytes (spec/backend-tcp.md §1): selection refuses more
  // itself, naming the variable, so collective doctor and init() agree (was: 256 characters here,
  // then a late 'jobId must be …' from the tcp backend).
  {
    name: 'job identity: a COLLECTIVE_JOB_ID of 129 bytes',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: 'x'.repeat(129) }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_JOB_ID', says: ['at most 128 UTF-8 bytes'] },
  },
  {
    name: 'job identity: a COLLECTIVE_JOB_ID of 65 characters but 130 UTF-8 bytes',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: 'é'.repeat(65) }),
    fails: { kind: 'IncompatibleSettings', variable: 'COLLECTIVE_JOB_ID', says: ['at most 128 UTF-8 bytes'] },
  },
  {
    name: 'job identity: a COLLECTIVE_JOB_ID of exactly 128 UTF-8 bytes',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: 'é'.repeat(64) }),
    picks: { backend: 'tcp', jobId: 'é'.repeat(64), jobIdSource: 'COLLECTIVE_JOB_ID' },
  },
  {
    name: "job identity: a launcher's run id longer than the handshake carries names its variable",
    env: { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'h', TORCHELASTIC_RUN_ID: 'r'.repeat(129) },
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'TORCHELASTIC_RUN_ID',
      says: ['at most 128 UTF-8 bytes'],
    },
  },
  {
    name: 'job identity: options.jobId longer than the handshake carries',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    options: { jobId: 'x'.repeat(129) },
    fails: { kind: 'IncompatibleSettings', variable: 'options.jobId', says: ['at most 128 UTF-8 bytes'] },
  },
  {
    name: 'a shm group passed as options',
    options: { backend: 'shm', group, rank: 1 },
    picks: { backend: 'shm', rank: 1 },
  },
  {
    name: 'a shm group and a named coordinator contradict',
    env: hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h' }),
    workerData: inShmGroup(1),
    fails: {
      kind: 'IncompatibleSettings',
      variable: 'COLLECTIVE_TCP_COORDINATOR',
      says: ['COLLECTIVE_BACKEND=shm'],
    },
  },
  {
    name: 'a shm group inside an mpirun launch contradicts',
    env: openMpi(0, 4, 4),
    workerData: inShmGroup(1),
    fails: { kind: 'IncompatibleSettings', variable: 'OMPI_COMM_WORLD_SIZE' },
  },
  {
    name: 'explicit shm ignores the process-wide launcher variables',
    env: { ...openMpi(0, 4, 4), COLLECTIVE_BACKEND: 'shm' },
    workerData: inShmGroup(3),
    picks: { backend: 'shm', rank: 3 },
  },
  {
    name: "options.rank contradicting the group's rank",
    options: { backend: 'shm', rank: 0 },
    workerData: inShmGroup(1),
    fails: { kind: 'IncompatibleSettings', variable: 'options.rank' },
  },
];

function run(row: Row) {
  return resolveSelection({
    options: row.options ?? {},
    env: row.env ?? {},
    workerData: row.workerData ?? null,
    isMainThread: row.isMainThread ?? true,
  });
}

function variablesNamed(error: BackendError): unknown[] {
  const missing = (error.context['missing'] as Array<{ variable: string }> | undefined) ?? [];
  return [error.context['variable'], ...missing.map((m) => m.variable)];
}

describe('selection table', () => {
  it.each(ROWS.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    if (row.picks) {
      const { config } = run(row);
      expect(config).toMatchObject(row.picks);
      for (const field of row.lacks ?? []) expect(config).not.toHaveProperty(field);
      return;
    }
    const fails = row.fails!;
    let caught: unknown;
    try {
      run(row);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BackendError);
    const error = caught as BackendError;
    expect(error.kind).toBe(fails.kind);
    if (fails.variable) expect(variablesNamed(error)).toContain(fails.variable);
    for (const fragment of fails.says ?? []) expect(error.message).toContain(fragment);
    expect(error.suggestion.length).toBeGreaterThan(0);
    expect(Object.keys(error.toJSON()).sort()).toEqual(['context', 'kind', 'message', 'suggestion']);
  });
});

describe('why and warnings', () => {
  it('says why the MPI step did not pick mpi, and why tcp won', () => {
    // No mpiAddon probe in these inputs: mpi counts as unavailable (spec/selection.md §5.1 step 2).
    const { reasons } = run({ name: '', env: openMpi(0, 2, 2) });
    expect(reasons[0]).toMatch(/open-mpi.*the mpi backend cannot run: the MPI addon was not probed/);
    expect(reasons[1]).toMatch(
      /one node \(OMPI_COMM_WORLD_LOCAL_SIZE=2, OMPI_COMM_WORLD_SIZE=2\).*127\.0\.0\.1:29500/,
    );
  });

  it('under an MPI launcher: mpi when the addon loads, else tcp warning COLLECTIVE_MPI_UNAVAILABLE with the reason', () => {
    const env = openMpi(0, 2, 2);
    const inputs = { options: {}, env, workerData: null, isMainThread: true };
    const loads = resolveSelection({ ...inputs, mpiAddon: () => ({ available: true }) });
    expect(loads.config).toMatchObject({ backend: 'mpi', rank: 0, size: 2 });
    expect(loads.warnings).toEqual([]);
    const reason = 'the MPI addon is not built (no-mpi): no MPI found at install';
    const fallback = resolveSelection({ ...inputs, mpiAddon: () => ({ available: false, reason }) });
    expect(fallback.config.backend).toBe('tcp');
    expect(fallback.reasons[0]).toContain(reason);
    const [warning] = fallback.warnings;
    expect(warning?.code).toBe('COLLECTIVE_MPI_UNAVAILABLE');
    expect(warning?.message).toContain(reason);
    // Named explicitly, tcp under mpirun is a choice, not a fallback: no warning.
    const named = resolveSelection({
      ...inputs,
      env: { ...env, COLLECTIVE_BACKEND: 'tcp' },
      mpiAddon: () => ({ available: false, reason }),
    });
    expect(named.warnings.map((w) => w.code)).not.toContain('COLLECTIVE_MPI_UNAVAILABLE');
  });

  it('warns about tcp between threads of one process, and only then', () => {
    const env = hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: 'h', COLLECTIVE_JOB_ID: 'j' });
    expect(run({ name: '', env, isMainThread: false }).warnings.map((w) => w.code)).toEqual([
      'COLLECTIVE_TCP_BETWEEN_THREADS',
    ]);
    expect(run({ name: '', env, isMainThread: true }).warnings).toEqual([]);
  });

  it('warns when a multi-rank tcp world has no job identity, naming what to set', () => {
    const env = hand(0, 2, { COLLECTIVE_TCP_COORDINATOR: '127.0.0.1' });
    const [warning, ...rest] = run({ name: '', env }).warnings;
    expect(rest).toEqual([]);
    expect(warning!.code).toBe('COLLECTIVE_NO_JOB_ID');
    expect(warning!.message).toContain('two jobs on one node with the same port could join each other');
    expect(warning!.message).toContain('COLLECTIVE_JOB_ID');
    expect(run({ name: '', env: { ...env, COLLECTIVE_JOB_ID: 'run-1' } }).warnings).toEqual([]);
    expect(run({ name: '', env: { ...openMpi(0, 2, 2), PMIX_NAMESPACE: 'ns' } }).warnings).toEqual([]);
    // One rank: nobody can join it by mistake.
    expect(run({ name: '', env: hand(0, 1, { COLLECTIVE_BACKEND: 'tcp' }) }).warnings).toEqual([]);
  });
});
