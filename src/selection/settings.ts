/**
 * Reading each setting from its layers (spec/selection.md §3): init options override COLLECTIVE_*
 * variables, which must agree with the launcher's variables. Rank and size are facts about the
 * launch, so two sources that disagree are a contradiction; the coordinator address and port are
 * choices, so COLLECTIVE_* replaces what a launcher (torchrun's MASTER_ADDR) suggests.
 */
import { COLLECTIVE_ALGORITHMS, type CollectiveAlgorithm } from '../communicator/algorithms/policy.js';
import { BackendError } from '../communicator/errors.js';
import type { InitOptions } from './options.js';
import {
  DEFAULT_CONNECT_TIMEOUT_SECS,
  DEFAULT_STALL_WARNING_SECS,
  DEFAULT_TCP_ALGORITHM,
  DEFAULT_TCP_PORT,
  DEFAULT_TIMEOUT_SECS,
} from './config.js';
import { parseCoordinator, parseHostOnly } from './addresses.js';
import { parseJobId, type LaunchFacts } from './launchers.js';
import {
  incompatible,
  parsePort,
  parseRank,
  parseSeconds,
  parseSecondsOrOff,
  parseSize,
  parseText,
  type EnvRecord,
  type Sourced,
} from './values.js';

export const VARIABLES = {
  backend: 'COLLECTIVE_BACKEND',
  rank: 'COLLECTIVE_RANK',
  size: 'COLLECTIVE_SIZE',
  coordinator: 'COLLECTIVE_TCP_COORDINATOR',
  port: 'COLLECTIVE_TCP_PORT',
  bindAddr: 'COLLECTIVE_TCP_BIND_ADDR',
  token: 'COLLECTIVE_TCP_TOKEN',
  algorithm: 'COLLECTIVE_TCP_ALGORITHM',
  timeoutSecs: 'COLLECTIVE_TIMEOUT_SECS',
  stallWarningSecs: 'COLLECTIVE_STALL_WARNING_SECS',
  connectTimeoutSecs: 'COLLECTIVE_CONNECT_TIMEOUT_SECS',
  jobId: 'COLLECTIVE_JOB_ID',
  wsUrl: 'COLLECTIVE_WS_URL',
} as const;

/** The three time settings of every rank, in seconds (spec/selection.md §3.1). */
export interface Timeouts {
  /** The fatal timeout: no progress this long rejects a collective with `Timeout` (default 1800). */
  readonly timeoutSecs: number;
  /** The stall warning: no progress this long warns, then again at each interval; 0 is off (default 60). */
  readonly stallWarningSecs: number;
  /** How long the tcp group may take to form (default 30). */
  readonly connectTimeoutSecs: number;
}

/** Each timeout with where it came from, for `collective doctor`. */
export type SourcedTimeouts = { readonly [K in keyof Timeouts]: Sourced<number> };

function seconds(
  option: number | undefined,
  name: keyof Timeouts,
  env: EnvRecord,
  fallback: number,
  parse: (source: string, raw: string | number) => number = parseSeconds,
): Sourced<number> {
  if (option !== undefined) return { value: parse(`options.${name}`, option), source: `options.${name}` };
  const variable = VARIABLES[name];
  const text = env[variable];
  return text === undefined
    ? { value: fallback, source: `default ${variable}` }
    : { value: parse(variable, text), source: variable };
}

export function readTimeoutSources(options: InitOptions, env: EnvRecord): SourcedTimeouts {
  return {
    timeoutSecs: seconds(options.timeoutSecs, 'timeoutSecs', env, DEFAULT_TIMEOUT_SECS),
    stallWarningSecs: seconds(
      options.stallWarningSecs,
      'stallWarningSecs',
      env,
      DEFAULT_STALL_WARNING_SECS,
      parseSecondsOrOff,
    ),
    connectTimeoutSecs: seconds(
      options.connectTimeoutSecs,
      'connectTimeoutSecs',
      env,
      DEFAULT_CONNECT_TIMEOUT_SECS,
    ),
  };
}

export function readTimeouts(options: InitOptions, env: EnvRecord): Timeouts {
  const sourced = readTimeoutSources(options, env);
  return {
    timeoutSecs: sourced.timeoutSecs.value,
    stallWarningSecs: sourced.stallWarningSecs.value,
    connectTimeoutSecs: sourced.connectTimeoutSecs.value,
  };
}

/** Rank and size as far as they are known; either may be missing (checked where it is needed). */
export interface WorldShape {
  readonly rank?: Sourced<number>;
  readonly size?: Sourced<number>;
}

function contradiction(a: Sourced<number | string>, b: Sourced<number | string>, what: string): BackendError {
  return new BackendError(
    'IncompatibleSettings',
    `${a.source}=${a.value} contradicts ${b.source}=${b.value}: two sources disagree about the ${what}`,
    { variable: a.source, value: a.value, conflictsWith: b.source, conflictingValue: b.value },
    `unset ${a.source} (the launcher already sets ${b.source}), or make them agree`,
  );
}

function layered(
  option: number | undefined,
  name: 'rank' | 'size',
  env: EnvRecord,
  launched: Sourced<number> | undefined,
  parse: (source: string, raw: string | number) => number,
): Sourced<number> | undefined {
  if (option !== undefined) return { value: parse(`options.${name}`, option), source: `options.${name}` };
  const variable = VARIABLES[name];
  const text = env[variable];
  if (text === undefined) return launched;
  const own = { value: parse(variable, text), source: variable };
  if (launched !== undefined && launched.value !== own.value) throw contradiction(own, launched, name);
  return own;
}

export function readWorldShape(
  options: InitOptions,
  env: EnvRecord,
  launch: LaunchFacts | undefined,
): WorldShape {
  const rank = layered(options.rank, 'rank', env, launch?.rank, parseRank);
  const size = layered(options.size, 'size', env, launch?.size, parseSize);
  if (rank !== undefined && size !== undefined && rank.value >= size.value) {
    throw new BackendError(
      'IncompatibleSettings',
      `${rank.source}=${rank.value} is not below ${size.source}=${size.value}: ranks run from 0 to size-1`,
      { variable: rank.source, value: rank.value, size: size.value, sizeSource: size.source },
      `give each of the ${size.value} ranks a distinct ${rank.source} from 0 to ${size.value - 1}`,
    );
  }
  return { ...(rank ? { rank } : {}), ...(size ? { size } : {}) };
}

/** The coordinator as far as it is named; `host` is undefined when nobody named one. */
export interface NamedAddress {
  readonly host?: Sourced<string>;
  readonly port: Sourced<number>;
}

function addressLayer(
  addressSource: string,
  address: string | undefined,
  portSource: string,
  port: string | number | undefined,
): { host?: Sourced<string>; port?: Sourced<number> } {
  const parsed = address === undefined ? undefined : parseCoordinator(addressSource, address);
  const explicitPort =
    port === undefined ? undefined : { value: parsePort(portSource, port), source: portSource };
  const embedded = parsed?.port === undefined ? undefined : { value: parsed.port, source: addressSource };
  if (explicitPort && embedded && explicitPort.value !== embedded.value) {
    throw contradiction(explicitPort, embedded, 'coordinator port');
  }
  const chosenPort = explicitPort ?? embedded;
  return {
    ...(parsed ? { host: { value: parsed.host, source: addressSource } } : {}),
    ...(chosenPort ? { port: chosenPort } : {}),
  };
}

export function readNamedAddress(
  options: InitOptions,
  env: EnvRecord,
  launch: LaunchFacts | undefined,
): NamedAddress {
  const fromOptions = addressLayer('options.coordinator', options.coordinator, 'options.port', options.port);
  const fromEnv = addressLayer(
    VARIABLES.coordinator,
    env[VARIABLES.coordinator],
    VARIABLES.port,
    env[VARIABLES.port],
  );
  const host = fromOptions.host ?? fromEnv.host ?? launch?.coordinator?.host;
  // A launcher's port belongs to the launcher's host; it is used only together with it.
  const launcherPort =
    host !== undefined && host === launch?.coordinator?.host ? launch.coordinator.port : undefined;
  const port = fromOptions.port ??
    fromEnv.port ??
    launcherPort ?? { value: DEFAULT_TCP_PORT, source: `default ${VARIABLES.port}` };
  if (port.source === launcherPort?.source && launch?.masterPortTaken) {
    throw new BackendError(
      'MissingConfiguration',
      `torchrun's agent already listens on ${port.source}=${port.value}, so the coordinator needs another port`,
      { missing: [{ variable: VARIABLES.port, example: `export ${VARIABLES.port}=${port.value + 1}` }] },
      `export ${VARIABLES.port}=<free port> before torchrun, the same on every node`,
    );
  }
  return { ...(host ? { host } : {}), port };
}

export function readTcpExtras(
  options: InitOptions,
  env: EnvRecord,
): { bindAddr?: string; token?: string; allowInsecure?: boolean } {
  const pick = (
    option: string | undefined,
    name: 'bindAddr' | 'token',
    parse: (source: string, raw: string) => string,
  ): string | undefined => {
    if (option !== undefined) return parse(`options.${name}`, option);
    const text = env[VARIABLES[name]];
    return text === undefined ? undefined : parse(VARIABLES[name], text);
  };
  const bindAddr = pick(options.bindAddr, 'bindAddr', (source, raw) =>
    parseHostOnly(source, raw, source.startsWith('options.') ? 'options.port' : VARIABLES.port),
  );
  const token = pick(options.token, 'token', parseText);
  if (options.allowInsecure !== undefined && typeof options.allowInsecure !== 'boolean') {
    throw incompatible('options.allowInsecure', options.allowInsecure, 'true or false');
  }
  return {
    ...(bindAddr !== undefined ? { bindAddr } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(options.allowInsecure !== undefined ? { allowInsecure: options.allowInsecure } : {}),
  };
}

/** The accepted algorithm names as a message lists them: `star, direct or auto`. */
const ALGORITHM_CHOICES = `${COLLECTIVE_ALGORITHMS.slice(0, -1).join(', ')} or ${COLLECTIVE_ALGORITHMS.at(-1)!}`;

function parseAlgorithm(source: string, raw: unknown): CollectiveAlgorithm {
  const name = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
  const known = COLLECTIVE_ALGORITHMS.find((algorithm) => algorithm === name);
  if (known === undefined) {
    throw incompatible(
      source,
      raw,
      `${ALGORITHM_CHOICES} (star: every collective through rank 0; direct: between every two ranks; auto: direct from the size thresholds up)`,
    );
  }
  return known;
}

/**
 * How tcp moves allreduce, allgatherv and broadcast (spec/selection.md §3, spec/backend-tcp.md §13):
 * options.algorithm → COLLECTIVE_TCP_ALGORITHM (any case) → `auto`. Every rank reads its own, so a
 * bad value fails on every rank before any socket is opened.
 */
export function readTcpAlgorithm(options: InitOptions, env: EnvRecord): Sourced<CollectiveAlgorithm> {
  if (options.algorithm !== undefined) {
    return { value: parseAlgorithm('options.algorithm', options.algorithm), source: 'options.algorithm' };
  }
  const text = env[VARIABLES.algorithm];
  return text === undefined
    ? { value: DEFAULT_TCP_ALGORITHM, source: `default ${VARIABLES.algorithm}` }
    : { value: parseAlgorithm(VARIABLES.algorithm, text), source: VARIABLES.algorithm };
}

/**
 * This job's identity (spec/selection.md §4.1): options.jobId → COLLECTIVE_JOB_ID (hand launches, and
 * our own launchers, which set it for every rank) → the launcher's own; undefined when none names one.
 */
export function readJobId(
  options: InitOptions,
  env: EnvRecord,
  launch: LaunchFacts | undefined,
): Sourced<string> | undefined {
  if (options.jobId !== undefined) {
    if (typeof options.jobId !== 'string') throw incompatible('options.jobId', options.jobId, 'a string');
    return { value: parseJobId('options.jobId', options.jobId), source: 'options.jobId' };
  }
  const text = env[VARIABLES.jobId];
  if (text !== undefined) return { value: parseJobId(VARIABLES.jobId, text), source: VARIABLES.jobId };
  return launch?.jobId;
}
