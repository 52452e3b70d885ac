/**
 * TcpOptions and their validation (spec/backend-tcp.md §1, §6): the star protocol's options
 * (`../star/options.ts`) and its listen address (`../star/listen-address.ts`), plus what is tcp's
 * own, the adopted net.Server. Bad settings fail before any socket is opened, with BackendError
 * 'IncompatibleSettings' (`tcp: …`) naming the field and what to pass instead.
 */
import type { Server } from 'node:net';
import { resolveListenOptions, type ListenOptions, type ListenSettings } from '../star/listen-address.js';
import { checkGroup, checkOptionsObject, resolveStarOptions, type StarOptions } from '../star/options.js';

export interface TcpOptions extends StarOptions, ListenOptions {
  /** Rank 0: adopt an already-listening server (e.g. passed by a parent via an IPC handle). */
  server?: Server;
}

/** The code of the tcp backend's default warnings (process.emitWarning). */
export const WARNING_CODE = 'COLLECTIVE_TCP';

/** The star protocol's settings, where rank 0 listens and workers dial, and the adopted server. */
export interface TcpSettings extends ListenSettings {
  server: Server | null;
}

export function resolveTcpOptions(options: TcpOptions): TcpSettings {
  checkOptionsObject('tcp', options, '{ rank, size, host, port, … }');
  checkGroup('tcp', options.rank, options.size);
  const star = resolveStarOptions({ backend: 'tcp', warningCode: WARNING_CODE }, options);
  return { ...resolveListenOptions('tcp', star, options), server: options.server ?? null };
}
