/**
 * TcpOptions and their validation (spec/backend-tcp.md §1, §6, §13): the star protocol's options
 * (`../star/options.ts`) and its listen address (`../star/listen-address.ts`), plus what is tcp's
 * own: the adopted net.Server and the collective algorithm with its thresholds. Bad settings fail
 * before any socket is opened, with BackendError 'IncompatibleSettings' (`tcp: …`) naming the field
 * and what to pass instead.
 */
import type { Server } from 'node:net';
import {
  COLLECTIVE_ALGORITHMS,
  DEFAULT_DIRECT_THRESHOLDS,
  type AlgorithmPolicy,
  type CollectiveAlgorithm,
  type DirectThresholds,
} from '../../communicator/algorithms/policy.js';
import { resolveListenOptions, type ListenOptions, type ListenSettings } from '../star/listen-address.js';
import {
  checkGroup,
  checkOptionsObject,
  incompatible,
  resolveStarOptions,
  type StarOptions,
} from '../star/options.js';

export interface TcpOptions extends StarOptions, ListenOptions {
  /** Rank 0: adopt an already-listening server (e.g. passed by a parent via an IPC handle). */
  server?: Server;
  /**
   * How allreduce, allgatherv and broadcast move their data (spec/backend-tcp.md §13): `star` through
   * rank 0; `direct` over links between every two ranks (each rank also listens, on an ephemeral
   * port of the address it reaches rank 0 from); `auto` (default) direct from `directThresholds` up.
   * Every rank must pass the same. Environment: COLLECTIVE_TCP_ALGORITHM.
   */
  algorithm?: CollectiveAlgorithm;
  /** Under `auto`: the least bytes of a call that goes direct, per collective (defaults: 256 KiB each). */
  directThresholds?: Partial<DirectThresholds>;
}

/** The code of the tcp backend's default warnings (process.emitWarning). */
export const WARNING_CODE = 'COLLECTIVE_TCP';

/** The star protocol's settings, where rank 0 listens and workers dial, and the adopted server. */
export interface TcpSettings extends ListenSettings {
  server: Server | null;
  algorithms: AlgorithmPolicy;
}

export function resolveTcpOptions(options: TcpOptions): TcpSettings {
  checkOptionsObject('tcp', options, '{ rank, size, host, port, … }');
  checkGroup('tcp', options.rank, options.size);
  const star = resolveStarOptions({ backend: 'tcp', warningCode: WARNING_CODE }, options);
  const algorithms = resolveAlgorithms(options);
  return { ...resolveListenOptions('tcp', star, options), server: options.server ?? null, algorithms };
}

function resolveAlgorithms(options: TcpOptions): AlgorithmPolicy {
  const algorithm = options.algorithm ?? 'auto';
  if (!COLLECTIVE_ALGORITHMS.includes(algorithm)) {
    throw incompatible(
      'tcp',
      'algorithm',
      `algorithm must be one of ${COLLECTIVE_ALGORITHMS.join(', ')}, got ${String(algorithm)}`,
      algorithm,
      "pass 'auto' (the default), or 'star' to keep every collective on rank 0's rounds",
    );
  }
  const given = options.directThresholds ?? {};
  if (given === null || typeof given !== 'object') {
    throw incompatible(
      'tcp',
      'directThresholds',
      'directThresholds must be an object { allreduce?, allgatherv?, broadcast? } of byte counts',
      given,
      'omit it for the defaults',
    );
  }
  const thresholds = { ...DEFAULT_DIRECT_THRESHOLDS };
  for (const key of Object.keys(given) as Array<keyof DirectThresholds>) {
    const value = given[key];
    if (!(key in DEFAULT_DIRECT_THRESHOLDS) || value === undefined) {
      if (key in DEFAULT_DIRECT_THRESHOLDS) continue;
      throw incompatible(
        'tcp',
        'directThresholds',
        `directThresholds has no field ${String(key)}`,
        key,
        'name only allreduce, allgatherv or broadcast',
      );
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw incompatible(
        'tcp',
        `directThresholds.${key}`,
        `directThresholds.${key} must be a whole number of bytes ≥ 0, got ${String(value)}`,
        value,
        'pass e.g. 262144, or 0 to take the direct path at every size',
      );
    }
    thresholds[key] = value;
  }
  return { algorithm, thresholds };
}
