/**
 * describeEnvironment(): what selection sees in this process and what init() would do with it —
 * launcher, rank, size, node layout, coordinator, the backend auto would pick and why, or the exact
 * BackendError it would raise. `collective doctor` prints it. Each fact is read on its own, so one
 * malformed variable does not hide the others.
 */
import type { KnownBackendName } from '../communicator/communicator.js';
import { BackendError } from '../communicator/errors.js';
import { formatHostPort } from './addresses.js';
import { SECRET_VARIABLES } from './backends.js';
import { resolveSelection } from './chain.js';
import type { SelectionWarning } from './config.js';
import { selectionInputs } from './init.js';
import {
  launcherName,
  readLaunch,
  type LauncherName,
  type LaunchFacts,
  type NodeLayout,
} from './launchers.js';
import type { InitOptions } from './options.js';
import { availableBackends, type BackendInfo } from './registry.js';
import {
  readJobId,
  readNamedAddress,
  readTcpAlgorithm,
  readTimeoutSources,
  readWorldShape,
  type SourcedTimeouts,
} from './settings.js';
import { readShmMembership } from './shm-group.js';
import type { Sourced } from './values.js';

const REDACTED = '<set, hidden>';

/**
 * What {@link describeEnvironment} returns: every fact selection reads, each with its source, and
 * what init() would do (spec/selection.md §8). `collective doctor --json` prints it.
 */
export interface EnvironmentReport {
  /** Which launcher started this process ('none' when started by hand or by collective itself). */
  readonly launcher: LauncherName | 'none';
  /** The launcher's variables that are set. */
  readonly launcherVariables: Readonly<Record<string, string>>;
  /** Every COLLECTIVE_* variable that is set (tokens hidden). */
  readonly collectiveVariables: Readonly<Record<string, string>>;
  /** This process's rank and its source, or null when nothing names one (or it is malformed). */
  readonly rank: Sourced<number> | null;
  /** The number of ranks and its source, or null when nothing names it (or it is malformed). */
  readonly size: Sourced<number> | null;
  /** Whether every rank runs on this node, as the launcher says (`'unknown'` when it does not). */
  readonly nodeLayout: Sourced<NodeLayout>;
  /** The coordinator init() would use: named, or derived for a single-node launch. */
  readonly coordinator: {
    /** Rank 0's host name or address. */
    readonly host: string;
    /** Rank 0's port. */
    readonly port: number;
    /** host:port as the user writes it: an IPv6 literal in brackets (`[::1]:33523`). */
    readonly address: string;
    /** Where the host came from: an option, a variable, or the single-node rule. */
    readonly source: string;
  } | null;
  /**
   * This job's identity (spec/selection.md §4.1) and its source; null when nothing names one, and then a
   * multi-rank tcp world carries the COLLECTIVE_NO_JOB_ID warning.
   */
  readonly jobId: Sourced<string> | null;
  /**
   * tcp's collective algorithm (`star`, `direct`, `auto`; spec/backend-tcp.md §13) and its source;
   * null when the value is malformed (then `error` names it).
   */
  readonly algorithm: Sourced<'star' | 'direct' | 'auto'> | null;
  /** The fatal timeout, the stall warning (0: off) and the connect timeout, each with its source. */
  readonly timeouts: SourcedTimeouts | null;
  /** This thread's rank in a shm group, when it is in one. */
  readonly shmGroupRank: Sourced<number> | null;
  /** What init() would pick, or null when it would raise `error`. */
  readonly selection: {
    /** The backend init() would start. */
    readonly backend: KnownBackendName;
    /** Each step of the priority chain that decided, in order (spec/selection.md §5.1). */
    readonly reasons: readonly string[];
  } | null;
  /** The error init() would raise (its `toJSON()`), or null when it would succeed. */
  readonly error: ReturnType<BackendError['toJSON']> | null;
  /** The warnings init() would emit (`CollectiveWarning` codes, spec/selection.md §7). */
  readonly warnings: readonly SelectionWarning[];
  /** {@link availableBackends}(): every backend and whether it can run here. */
  readonly backends: readonly BackendInfo[];
}

function attempt<T>(read: () => T, errors: BackendError[]): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof BackendError)) throw error;
    errors.push(error);
    return undefined;
  }
}

function collectiveVariables(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (name.startsWith('COLLECTIVE_') && value !== undefined) {
      out[name] = SECRET_VARIABLES.has(name) ? REDACTED : value;
    }
  }
  return out;
}

/**
 * Reports what selection sees in this process and what {@link init} would do with it, without
 * starting anything (no socket, thread or shared memory): launcher, rank, size, node layout,
 * coordinator, job id, timeouts, the backend `auto` would pick and why, or the exact
 * {@link BackendError} init() would raise (spec/selection.md §8). Each fact is read on its own, so
 * one malformed variable does not hide the others. `collective doctor` prints it.
 *
 * @param options - the same options init() would get.
 * @returns the report; it never throws for a bad environment (the error is in `report.error`).
 * @throws {@link BackendError} `IncompatibleSettings` only when `options` is not an object.
 * @example
 * ```ts
 * import { describeEnvironment } from 'collective';
 *
 * const report = describeEnvironment();
 * if (report.error) console.error(report.error.message);
 * else console.log(report.selection?.backend, report.selection?.reasons);
 * ```
 */
export function describeEnvironment(options: InitOptions = {}): EnvironmentReport {
  const inputs = selectionInputs(options);
  const errors: BackendError[] = [];
  const launch: LaunchFacts | undefined = attempt(() => readLaunch(inputs.env), errors);
  const world = attempt(() => readWorldShape(options, inputs.env, launch), errors);
  const address = attempt(() => readNamedAddress(options, inputs.env, launch), errors);
  const jobId = attempt(() => readJobId(options, inputs.env, launch), errors);
  const timeouts = attempt(() => readTimeoutSources(options, inputs.env), errors);
  const algorithm = attempt(() => readTcpAlgorithm(options, inputs.env), errors);
  const membership = attempt(() => readShmMembership(options, inputs.workerData), errors);
  const resolution = attempt(() => resolveSelection(inputs), errors);
  const config = resolution?.config;
  const coordinator =
    config !== undefined && 'host' in config
      ? {
          host: config.host,
          port: config.port,
          address: formatHostPort(config.host, config.port),
          source: address?.host?.source ?? 'derived: every rank runs on this one node',
        }
      : address?.host
        ? {
            host: address.host.value,
            port: address.port.value,
            address: formatHostPort(address.host.value, address.port.value),
            source: address.host.source,
          }
        : null;
  // The chain's own error is the one init() would raise; the partial reads above only fill in facts.
  const error = resolution === undefined ? (errors.at(-1) ?? null) : null;
  return {
    launcher: launch?.launcher ?? launcherName(inputs.env) ?? 'none',
    launcherVariables: launch?.variables ?? {},
    collectiveVariables: collectiveVariables(inputs.env),
    rank: world?.rank ?? null,
    size: world?.size ?? null,
    nodeLayout: launch?.layout ?? {
      value: world?.size?.value === 1 ? 'single-node' : 'unknown',
      source: launch ? 'unreadable: see the error below' : 'no launcher detected',
    },
    coordinator,
    jobId: jobId ?? null,
    algorithm: algorithm ?? null,
    timeouts: timeouts ?? null,
    shmGroupRank: membership?.rank ?? null,
    selection: resolution ? { backend: resolution.config.backend, reasons: resolution.reasons } : null,
    error: error?.toJSON() ?? null,
    warnings: resolution?.warnings ?? [],
    backends: availableBackends(),
  };
}
