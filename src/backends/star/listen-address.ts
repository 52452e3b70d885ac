/**
 * Where a star transport's rank 0 listens and its workers dial, and the rules that keep rank 0 from
 * listening beyond loopback by accident (spec/backend-tcp.md §1, §1.1; spec/backend-ws.md §9.2).
 * Node-only (host-address.ts classifies with node:net); every error is BackendError
 * 'IncompatibleSettings' prefixed with the backend's name, as in options.ts.
 */
import { normaliseHost } from '../../communicator/host-address.js';
import { incompatible, type StarBackendName } from './options.js';
import type { StarSettings } from './settings.js';

/** The options of a transport whose rank 0 listens on host:port (TcpOptions, WsOptions). */
export interface ListenOptions {
  /** Coordinator address; rank 0 binds it (or bindAddr). */
  host: string;
  /** Rank 0: 0 = ephemeral (reported through onListening). Ranks ≥ 1: the coordinator's port. */
  port: number;
  /** Rank 0 only: where to listen (explicit; a wildcard only when the user says so). */
  bindAddr?: string;
  /** Explicit opt-out: listen on a non-loopback address without a token. */
  allowInsecure?: boolean;
  /** Rank 0: called once listening, before peers join. */
  onListening?: (address: { host: string; port: number }) => void;
}

/** The star protocol's settings plus where rank 0 listens and workers dial (spec/backend-tcp.md §1). */
export interface ListenSettings extends StarSettings {
  host: string;
  port: number;
  /** Where rank 0 listens: options.bindAddr, else host (IP literals in canonical spelling, §1.1). */
  bindAddr: string;
  /** options.bindAddr was given: only then may rank 0 listen on every interface. */
  explicitBind: boolean;
  allowInsecure: boolean;
  onListening: (address: { host: string; port: number }) => void;
}

/** The highest TCP port. */
const MAX_PORT = 65535;

/** An IP literal in its canonical spelling (so `[::1]` connects), a name as given. */
function canonical(host: string): string {
  const normalised = normaliseHost(host);
  return normalised.family === 0 ? host : normalised.address;
}

function checkPort(backend: StarBackendName, rank: number, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT || (rank > 0 && port === 0)) {
    throw incompatible(
      backend,
      'port',
      `port must be an integer in [${rank > 0 ? 1 : 0}, ${MAX_PORT}], got ${port}`,
      port,
      rank > 0
        ? "pass the coordinator's real port (rank 0 reports it through onListening)"
        : 'pass 0 for an ephemeral port',
    );
  }
}

/**
 * The coordinator and bind addresses (spec/backend-tcp.md §1.1), classified after normalising:
 * every spelling of the unspecified address (`0`, `[::0]`, `::ffff:0.0.0.0`, …) is "all interfaces".
 */
function checkAddresses(
  backend: StarBackendName,
  rank: number,
  options: ListenOptions,
): { host: string; bindAddr: string } {
  if (typeof options.host !== 'string' || options.host === '') {
    throw incompatible(
      backend,
      'host',
      'host must be the coordinator address',
      options.host,
      "pass '127.0.0.1' for one machine",
    );
  }
  if (options.bindAddr !== undefined && (typeof options.bindAddr !== 'string' || options.bindAddr === '')) {
    throw incompatible(
      backend,
      'bindAddr',
      'bindAddr must be an address of this machine',
      options.bindAddr,
      "omit it to listen on host, or pass '0.0.0.0' to listen on all interfaces on purpose",
    );
  }
  const host = normaliseHost(options.host);
  if (host.scope === 'unspecified' && rank > 0) {
    throw incompatible(
      backend,
      'host',
      `host '${options.host}' is the unspecified address (${host.address}), not an address to connect to`,
      options.host,
      "set COLLECTIVE_TCP_COORDINATOR (options.host) to rank 0's address on every rank",
    );
  }
  if (host.scope === 'unspecified' && options.bindAddr === undefined) {
    throw incompatible(
      backend,
      'host',
      `host '${options.host}' is the unspecified address (${host.address}): rank 0 would listen on all interfaces`,
      options.host,
      "set COLLECTIVE_TCP_COORDINATOR (options.host) to rank 0's real address, and COLLECTIVE_TCP_BIND_ADDR=0.0.0.0 (options.bindAddr) only to listen on all interfaces on purpose",
    );
  }
  return {
    host: canonical(options.host),
    bindAddr: canonical(options.bindAddr ?? options.host),
  };
}

/**
 * Rank 0 listens beyond loopback only with a token or allowInsecure (spec/backend-tcp.md §1.1).
 * Checked on the configured address before listening, and again on the address really bound.
 */
export function checkListenScope(
  backend: StarBackendName,
  rank: number,
  bindAddr: string,
  guard: { token: string | null; allowInsecure: boolean },
): void {
  if (rank !== 0 || guard.token !== null || guard.allowInsecure) return;
  const { address, scope } = normaliseHost(bindAddr);
  if (scope === 'loopback') return;
  const where = scope === 'unspecified' ? `all interfaces (${address})` : `'${bindAddr}'`;
  throw incompatible(
    backend,
    'token',
    `rank 0 would listen on ${where} without a token: any machine that reaches it could join`,
    bindAddr,
    'set COLLECTIVE_TCP_TOKEN (options.token) to the same secret on every rank, listen on 127.0.0.1 for one machine, or pass allowInsecure: true to opt out explicitly',
  );
}

/**
 * After listening: the address the socket really bound, which also covers a name that resolves to
 * the unspecified address. `adopted`: the server was the caller's (tcp's options.server), so a
 * wildcard is the caller's choice — the token rule still applies.
 */
export function checkBoundAddress(
  backend: StarBackendName,
  settings: ListenSettings,
  bound: string,
  adopted: boolean,
): void {
  if (normaliseHost(bound).scope === 'unspecified' && !settings.explicitBind && !adopted) {
    throw incompatible(
      backend,
      'host',
      `host '${settings.host}' made rank 0 listen on all interfaces (${bound})`,
      settings.host,
      "set COLLECTIVE_TCP_COORDINATOR (options.host) to rank 0's real address, and COLLECTIVE_TCP_BIND_ADDR=0.0.0.0 (options.bindAddr) only to listen on all interfaces on purpose",
    );
  }
  checkListenScope(backend, settings.rank, bound, settings);
}

/**
 * The address part of the settings, over the already-checked star settings (resolveStarOptions):
 * port, host and bindAddr (§1.1), then the token rule on the configured address.
 */
export function resolveListenOptions(
  backend: StarBackendName,
  star: StarSettings,
  options: ListenOptions,
): ListenSettings {
  checkPort(backend, star.rank, options.port);
  const { host, bindAddr } = checkAddresses(backend, star.rank, options);
  const allowInsecure = options.allowInsecure === true;
  checkListenScope(backend, star.rank, bindAddr, { token: star.token, allowInsecure });
  return {
    ...star,
    host,
    port: options.port,
    bindAddr,
    explicitBind: options.bindAddr !== undefined,
    allowInsecure,
    onListening: options.onListening ?? ((): void => {}),
  };
}
