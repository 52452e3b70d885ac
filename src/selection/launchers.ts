/**
 * The launchers we live under (spec/selection.md §4): Open MPI, MPICH/Intel MPI (PMI), torchrun-style
 * and Slurm. Each is a row of a table — which variables say "I started you", where rank and size are,
 * how to tell whether every rank is on one node — and one function turns the first matching row into
 * typed facts — including the job identity that keeps two jobs on one node apart (§4.1). The order of the table is the precedence: an mpirun inside a Slurm batch script
 * inherits the batch step's SLURM_PROCID=0 on every rank, so the innermost launcher (MPI) must win.
 */
import { BackendError } from '../communicator/errors.js';
import { MAX_JOB_ID_BYTES } from '../communicator/job-id.js';
import { parseHostOnly } from './addresses.js';
import {
  incompatible,
  parsePort,
  parseRank,
  parseSize,
  parseText,
  type EnvRecord,
  type Sourced,
} from './values.js';

/**
 * A launcher that selection recognises by its variables (spec/selection.md §4): Open MPI's
 * `mpirun`, MPICH/Intel MPI's `mpiexec`, a torchrun-style environment (`WORLD_SIZE`, `RANK`,
 * `MASTER_ADDR`), or Slurm's `srun`.
 */
export type LauncherName = 'open-mpi' | 'mpich' | 'torchrun' | 'slurm';

/** Whether every rank of the launch runs on this one node. */
export type NodeLayout = 'single-node' | 'multi-node' | 'unknown';

interface LauncherRow {
  readonly name: LauncherName;
  /** True for a real MPI runtime: the reserved chain step would pick a native MPI backend. */
  readonly isMpi: boolean;
  /** Any of these present means this launcher started the process. */
  readonly markers: readonly string[];
  readonly rankVar: string;
  readonly sizeVar: string;
  /** Ranks on this node; equal to the size means one node. */
  readonly localSizeVar?: string;
  /** Nodes of the launch; 1 means one node. */
  readonly nodeCountVar?: string;
  /** Where the launcher itself names rank 0's host and port. */
  readonly coordinatorVars?: { host: string; port: string };
  /** Shown by `collective doctor`; never used to choose anything. */
  readonly informational: readonly string[];
  /** How a user names the coordinator under this launcher. */
  readonly coordinatorHowTo: string;
  /**
   * Where the launcher names this job, the same on every rank and different for every launch:
   * alternatives in order, the first whose variables are all set wins; several names are joined by '.'.
   */
  readonly jobIdVars: readonly (readonly string[])[];
  /** Values a launcher uses when nobody chose an id (shared by every such launch): no identity. */
  readonly placeholderJobIds?: readonly string[];
}

const LAUNCHERS: readonly LauncherRow[] = [
  {
    name: 'open-mpi',
    isMpi: true,
    markers: ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'],
    rankVar: 'OMPI_COMM_WORLD_RANK',
    sizeVar: 'OMPI_COMM_WORLD_SIZE',
    localSizeVar: 'OMPI_COMM_WORLD_LOCAL_SIZE',
    informational: ['OMPI_COMM_WORLD_LOCAL_RANK'],
    coordinatorHowTo: 'mpirun -x COLLECTIVE_TCP_COORDINATOR=<host of rank 0> -n 4 node app.js',
    // PMIx (Open MPI ≥ 2) names the job's namespace; older runtimes only the ess job id.
    jobIdVars: [['PMIX_NAMESPACE'], ['OMPI_MCA_ess_base_jobid']],
  },
  {
    name: 'mpich',
    isMpi: true,
    markers: ['PMI_RANK', 'PMI_SIZE'],
    rankVar: 'PMI_RANK',
    sizeVar: 'PMI_SIZE',
    localSizeVar: 'MPI_LOCALNRANKS',
    informational: ['MPI_LOCALRANKID'],
    coordinatorHowTo: 'mpiexec -genv COLLECTIVE_TCP_COORDINATOR <host of rank 0> -n 4 node app.js',
    // Hydra (MPICH's mpiexec) exports no job identity: its KVS name travels only over the PMI socket.
    // Some other PMI-1 process managers (e.g. ParaStation) export it as PMI_KVSNAME.
    jobIdVars: [['PMI_KVSNAME']],
  },
  {
    name: 'torchrun',
    isMpi: false,
    // RANK alone is too common a name to mean anything; WORLD_SIZE is the torchrun marker.
    markers: ['WORLD_SIZE'],
    rankVar: 'RANK',
    sizeVar: 'WORLD_SIZE',
    localSizeVar: 'LOCAL_WORLD_SIZE',
    coordinatorVars: { host: 'MASTER_ADDR', port: 'MASTER_PORT' },
    informational: ['LOCAL_RANK', 'TORCHELASTIC_USE_AGENT_STORE'],
    coordinatorHowTo: 'export MASTER_ADDR=<host of rank 0> (or COLLECTIVE_TCP_COORDINATOR) on every node',
    jobIdVars: [['TORCHELASTIC_RUN_ID']],
    // torchrun's --rdzv-id defaults to 'none' (only --standalone draws a fresh one).
    placeholderJobIds: ['none'],
  },
  {
    name: 'slurm',
    isMpi: false,
    markers: ['SLURM_PROCID'],
    rankVar: 'SLURM_PROCID',
    sizeVar: 'SLURM_NTASKS',
    nodeCountVar: 'SLURM_NNODES',
    // The launch node is where srun ran, which is rank 0's node only in some set-ups (sbatch, not
    // salloc from a login node), so it is reported, never used as the coordinator.
    informational: ['SLURM_LAUNCH_NODE_IPADDR', 'SLURM_JOB_NODELIST', 'SLURM_LOCALID'],
    coordinatorHowTo:
      'export COLLECTIVE_TCP_COORDINATOR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1) in the batch script, before srun',
    // Several sruns of one allocation share the job id; the step id tells them apart.
    jobIdVars: [['SLURM_JOB_ID', 'SLURM_STEP_ID'], ['SLURM_JOB_ID']],
  },
];

/** What the launcher that started this process says about the launch. */
export interface LaunchFacts {
  readonly launcher: LauncherName;
  readonly isMpi: boolean;
  readonly rank: Sourced<number>;
  readonly size: Sourced<number>;
  readonly layout: Sourced<NodeLayout>;
  /** rank 0's host (and port) as the launcher names them, torchrun-style only. */
  readonly coordinator?: { host: Sourced<string>; port?: Sourced<number> };
  /** True under real torchrun, whose agent already listens on MASTER_PORT. */
  readonly masterPortTaken: boolean;
  readonly coordinatorHowTo: string;
  /** The launcher's name for this job (§4.1), when it gives one. */
  readonly jobId?: Sourced<string>;
  /** Every variable of this launcher that is set, for `collective doctor`. */
  readonly variables: Readonly<Record<string, string>>;
}

function rowFor(env: EnvRecord): LauncherRow | undefined {
  return LAUNCHERS.find((row) => row.markers.some((marker) => env[marker] !== undefined));
}

/** The name of the launcher that started this process, without validating its variables. */
export function launcherName(env: EnvRecord): LauncherName | undefined {
  return rowFor(env)?.name;
}

function required(env: EnvRecord, row: LauncherRow, variable: string): string {
  const text = env[variable];
  if (text !== undefined) return text;
  throw new BackendError(
    'MissingConfiguration',
    `launched by ${row.name} but ${variable} is not set`,
    { launcher: row.name, missing: [{ variable, example: `${variable}=0` }] },
    `the launcher sets ${variable} itself; if you set ${row.markers.join('/')} by hand, set ${variable} too`,
  );
}

function layoutOf(env: EnvRecord, row: LauncherRow, size: number): Sourced<NodeLayout> {
  if (size === 1) return { value: 'single-node', source: `${row.sizeVar}=1` };
  if (row.localSizeVar !== undefined && env[row.localSizeVar] !== undefined) {
    const local = parseSize(row.localSizeVar, env[row.localSizeVar]!);
    const source = `${row.localSizeVar}=${local}, ${row.sizeVar}=${size}`;
    return { value: local === size ? 'single-node' : 'multi-node', source };
  }
  if (row.nodeCountVar !== undefined && env[row.nodeCountVar] !== undefined) {
    const nodes = parseSize(row.nodeCountVar, env[row.nodeCountVar]!);
    return { value: nodes === 1 ? 'single-node' : 'multi-node', source: `${row.nodeCountVar}=${nodes}` };
  }
  const missing = row.localSizeVar ?? row.nodeCountVar;
  return { value: 'unknown', source: missing ? `${missing} is not set` : `${row.name} does not say` };
}

function coordinatorOf(env: EnvRecord, row: LauncherRow): LaunchFacts['coordinator'] {
  const vars = row.coordinatorVars;
  if (vars === undefined || env[vars.host] === undefined) return undefined;
  const host = { value: parseHostOnly(vars.host, env[vars.host]!, vars.port), source: vars.host };
  if (env[vars.port] === undefined) return { host };
  return { host, port: { value: parsePort(vars.port, env[vars.port]!), source: vars.port } };
}

/**
 * A job identity: non-empty text that fits the tcp handshake (MAX_JOB_ID_BYTES UTF-8 bytes), checked
 * here so that collective doctor and init() refuse the same values, naming the variable that set it.
 */
export function parseJobId(source: string, raw: string): string {
  const text = parseText(source, raw);
  if (Buffer.byteLength(text, 'utf8') > MAX_JOB_ID_BYTES) {
    throw incompatible(source, raw, `a non-empty string of at most ${MAX_JOB_ID_BYTES} UTF-8 bytes`);
  }
  return text;
}

function jobIdOf(env: EnvRecord, row: LauncherRow): Sourced<string> | undefined {
  for (const names of row.jobIdVars) {
    if (!names.every((name) => env[name] !== undefined && env[name]!.trim() !== '')) continue;
    const source = names.join('.');
    const value = parseJobId(source, names.map((name) => env[name]!.trim()).join('.'));
    if (row.placeholderJobIds?.includes(value)) return undefined;
    return { value, source };
  }
  return undefined;
}

/**
 * The facts of the launcher that started this process, or undefined when none did.
 * Throws BackendError when the launcher's own variables are missing or malformed.
 */
export function readLaunch(env: EnvRecord): LaunchFacts | undefined {
  const row = rowFor(env);
  if (row === undefined) return undefined;
  const size = parseSize(row.sizeVar, required(env, row, row.sizeVar));
  const rank = parseRank(row.rankVar, required(env, row, row.rankVar));
  const names = [row.rankVar, row.sizeVar, row.localSizeVar, row.nodeCountVar, ...row.informational];
  if (row.coordinatorVars) names.push(row.coordinatorVars.host, row.coordinatorVars.port);
  names.push(...new Set(row.jobIdVars.flat()));
  const variables: Record<string, string> = {};
  for (const name of names) if (name !== undefined && env[name] !== undefined) variables[name] = env[name]!;
  const coordinator = coordinatorOf(env, row);
  const jobId = jobIdOf(env, row);
  return {
    launcher: row.name,
    isMpi: row.isMpi,
    rank: { value: rank, source: row.rankVar },
    size: { value: size, source: row.sizeVar },
    layout: layoutOf(env, row, size),
    ...(coordinator ? { coordinator } : {}),
    masterPortTaken: row.name === 'torchrun' && env['TORCHELASTIC_USE_AGENT_STORE'] === 'True',
    coordinatorHowTo: row.coordinatorHowTo,
    ...(jobId ? { jobId } : {}),
    variables,
  };
}
