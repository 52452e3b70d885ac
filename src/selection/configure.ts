/**
 * The configuration steps of each backend (spec/selection.md §5.1, §5.2): pure functions from the chain's
 * context to a validated config, or a BackendError naming the setting to fix. The table
 * (backends.ts) names which step belongs to which backend; the chain (chain.ts) runs them.
 */
import { BackendError } from '../communicator/errors.js';
import type { Availability } from './backend-start.js';
import {
  LOOPBACK_HOST,
  type LocalConfig,
  type ShmConfig,
  type SelectionWarning,
  type TcpConfig,
} from './config.js';
import { formatHostPort, refuseUnspecifiedCoordinator } from './addresses.js';
import type { LaunchFacts } from './launchers.js';
import type { InitOptions } from './options.js';
import {
  readJobId,
  readNamedAddress,
  readTcpAlgorithm,
  readTcpExtras,
  readWorldShape,
  VARIABLES,
  type NamedAddress,
  type Timeouts,
  type WorldShape,
} from './settings.js';
import type { ShmMembership } from './shm-group.js';
import type { EnvRecord, Sourced } from './values.js';

/** What the chain reads in this thread: the options, the environment record, workerData. */
export interface SelectionInputs {
  readonly options: InitOptions;
  readonly env: EnvRecord;
  /** worker_threads.workerData of the calling thread. */
  readonly workerData: unknown;
  readonly isMainThread: boolean;
  /**
   * Whether the MPI addon loads (§5.1 step 2); init() and describeEnvironment() pass the real probe.
   * Absent: `auto` treats mpi as unavailable (a pure table test stays independent of this machine).
   */
  readonly mpiAddon?: () => Availability;
}

/** What every configuration step may read, read once by the chain; `reasons` collects the "why". */
export interface Context {
  readonly inputs: SelectionInputs;
  readonly timeouts: Timeouts;
  readonly launch: LaunchFacts | undefined;
  readonly membership: ShmMembership | undefined;
  readonly reasons: string[];
}

/** The launch as `auto` sees it (§5.1), read once before the table's auto steps are tried in order. */
export interface AutoFacts {
  readonly world: WorldShape;
  readonly address: NamedAddress;
  /** The world names more than one rank. */
  readonly multiRank: boolean;
}

export const shown = (s: Sourced<unknown>): string => `${s.source}=${String(s.value)}`;

/** §5.1 step 6, the last resort of auto: one rank — unless the launch says otherwise (steps 5, 5′). */
export function localByAuto(context: Context, facts: AutoFacts): LocalConfig {
  const { world, multiRank } = facts;
  if (multiRank) throw missingCoordinator(world.size!, context.launch);
  if (world.rank !== undefined && world.size === undefined) throw missing('auto', [sizeItem()]);
  context.reasons.push('no coordinator, no shm group and a world of one rank → local');
  return { backend: 'local' };
}

export function local(context: Context): LocalConfig {
  const world = readWorldShape(context.inputs.options, context.inputs.env, context.launch);
  if (world.size !== undefined && world.size.value > 1) {
    throw new BackendError(
      'IncompatibleSettings',
      `the local backend has exactly one rank but ${shown(world.size)}`,
      { variable: world.size.source, value: world.size.value, backend: 'local' },
      `use ${VARIABLES.backend}=tcp (or auto) for ${world.size.value} ranks, or launch one rank`,
    );
  }
  return { backend: 'local' };
}

export function shm(context: Context): ShmConfig {
  const { membership, inputs, reasons } = context;
  if (membership === undefined) {
    const source = inputs.options.backend !== undefined ? 'options.backend' : VARIABLES.backend;
    throw new BackendError(
      'IncompatibleSettings',
      `${source}=shm but this thread is not in a shm group (no options.group, no workerData group)`,
      { variable: source, value: 'shm' },
      'start the ranks with `collective run --backend shm`, or pass init({ backend: "shm", group, rank }) from your own worker threads',
    );
  }
  // The environment is shared by every thread of the process, so only an option can name a thread's rank.
  const rankOption = inputs.options.rank;
  if (rankOption !== undefined && rankOption !== membership.rank.value) {
    throw new BackendError(
      'IncompatibleSettings',
      `options.rank=${rankOption} contradicts ${shown(membership.rank)}`,
      { variable: 'options.rank', value: rankOption, conflictsWith: membership.rank.source },
      'drop options.rank: the shm group already says which rank this thread is',
    );
  }
  reasons.push(`this thread is in a shm group (${shown(membership.rank)}) → shm`);
  return {
    backend: 'shm',
    group: membership.group,
    rank: membership.rank.value,
    timeoutSecs: context.timeouts.timeoutSecs,
    stallWarningSecs: context.timeouts.stallWarningSecs,
  };
}

export function tcp(context: Context, knownWorld?: WorldShape, knownAddress?: NamedAddress): TcpConfig {
  const { options, env } = context.inputs;
  const { launch, reasons } = context;
  const world = knownWorld ?? readWorldShape(options, env, launch);
  const address = knownAddress ?? readNamedAddress(options, env, launch);
  const oneNode = world.size?.value === 1 || launch?.layout.value === 'single-node';
  const host: Sourced<string> | undefined =
    address.host ??
    (oneNode && world.size !== undefined
      ? { value: LOOPBACK_HOST, source: `one node (${launch?.layout.source ?? shown(world.size)})` }
      : undefined);
  const items = [
    ...(world.rank === undefined ? [rankItem()] : []),
    ...(world.size === undefined ? [sizeItem()] : []),
    ...(host === undefined ? [coordinatorItem(launch)] : []),
  ];
  if (items.length > 0) {
    if (items.length === 1 && host === undefined && world.size !== undefined) {
      throw missingCoordinator(world.size, launch);
    }
    throw missing('tcp', items);
  }
  if (address.port.value === 0 && world.rank!.value !== 0) {
    throw new BackendError(
      'IncompatibleSettings',
      `${address.port.source} is 0 on rank ${world.rank!.value}: only rank 0 can listen on an ephemeral port; the other ranks need the port it got`,
      { variable: address.port.source, value: 0, rank: world.rank!.value },
      "let a launcher relay rank 0's port (collective run does), or set the same fixed port on every rank",
    );
  }
  const extras = readTcpExtras(options, env);
  refuseUnspecifiedCoordinator(host!, world.rank!.value, extras.bindAddr, VARIABLES);
  const jobId = readJobId(options, env, launch);
  const algorithm = readTcpAlgorithm(options, env).value;
  reasons.push(
    address.host !== undefined
      ? `a coordinator is named (${shown(address.host)}, port from ${shown(address.port)}) → tcp`
      : `all ${world.size!.value} ranks run on ${host!.source} and no coordinator is named → tcp at ${formatHostPort(LOOPBACK_HOST, address.port.value)}`,
  );
  return {
    backend: 'tcp',
    rank: world.rank!.value,
    size: world.size!.value,
    host: host!.value,
    port: address.port.value,
    ...extras,
    ...(jobId ? { jobId: jobId.value, jobIdSource: jobId.source } : {}),
    ...context.timeouts,
    layout: launch?.layout.value ?? (world.size!.value === 1 ? 'single-node' : 'unknown'),
    algorithm,
  };
}

interface MissingItem {
  readonly variable: string;
  readonly example: string;
}

const rankItem = (): MissingItem => ({
  variable: VARIABLES.rank,
  example: `export ${VARIABLES.rank}=0   # 0 on rank 0's machine, then 1, 2, … on the others`,
});
const sizeItem = (): MissingItem => ({ variable: VARIABLES.size, example: `export ${VARIABLES.size}=2` });
const coordinatorItem = (launch: LaunchFacts | undefined): MissingItem => ({
  variable: VARIABLES.coordinator,
  example: launch?.coordinatorHowTo ?? `export ${VARIABLES.coordinator}=10.0.0.1:29500   # rank 0's host`,
});

function missing(backend: string, items: readonly MissingItem[]): BackendError {
  return new BackendError(
    'MissingConfiguration',
    `${backend} needs ${items.map((i) => i.variable).join(', ')}; set: ${items.map((i) => i.example).join('; ')}`,
    { backend, missing: items },
    `set ${items.map((i) => i.variable).join(' and ')} on every rank (or pass them to init())`,
  );
}

function missingCoordinator(size: Sourced<number>, launch: LaunchFacts | undefined): BackendError {
  const item = coordinatorItem(launch);
  const how = launch
    ? `${launch.launcher} started ${size.value} ranks ${
        launch.layout.value === 'multi-node'
          ? 'across several nodes'
          : 'without saying whether they share a node'
      } (${launch.layout.source})`
    : `${shown(size)} ranks`;
  return new BackendError(
    'MissingConfiguration',
    `${how} and no coordinator is named: set ${VARIABLES.coordinator} to rank 0's host`,
    { missing: [item], launcher: launch?.launcher ?? null, layout: launch?.layout.value ?? 'unknown' },
    item.example,
  );
}

/** The warnings of a tcp selection (§7). */
export function tcpWarnings(config: TcpConfig, inputs: SelectionInputs): SelectionWarning[] {
  const warnings: SelectionWarning[] = [];
  if (!inputs.isMainThread) {
    warnings.push({
      code: 'COLLECTIVE_TCP_BETWEEN_THREADS',
      message:
        'tcp selected in a worker thread: ranks that are threads of one process are faster over shm (collective run --backend shm)',
    });
  }
  if (config.size > 1 && config.jobId === undefined) warnings.push(noJobIdWarning(config));
  return warnings;
}

/** A multi-rank tcp world that nothing names: a rank of another job could be admitted to it. */
export function noJobIdWarning(config: Pick<TcpConfig, 'size' | 'host' | 'port'>): SelectionWarning {
  return {
    code: 'COLLECTIVE_NO_JOB_ID',
    message:
      `no job identity for this ${config.size}-rank tcp job at ${formatHostPort(config.host, config.port)}: ` +
      "two jobs on one node with the same port could join each other and compute with each other's data. " +
      `Set ${VARIABLES.jobId} to the same value on every rank of this job and a different value for every other job (e.g. ${VARIABLES.jobId}=train-42), ` +
      'or launch with collective run, mpirun, srun or torchrun --rdzv-id, which name the job themselves',
  };
}
