/**
 * Parsing of host addresses (spec/selection.md §3.2): the coordinator (`host`, `host:port`,
 * `[ipv6]:port`, a bare IPv6 address) and addresses that carry no port (the bind address, MASTER_ADDR).
 * An unbracketed IPv6 address followed by a port cannot be told from an address whose last group is
 * the "port" (`::1:8080` is both), so it is refused with the bracketed spelling, never guessed.
 */
import { isIP } from 'node:net';
import { BackendError } from '../communicator/errors.js';
import { normaliseHost } from '../communicator/host-address.js';
import { incompatible, MAX_PORT, parsePort, parseText } from './values.js';

/** A host name or IPv4 address: letters, digits, '.', '-', '_' (no spaces, no ports, no schemes). */
const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

const COORDINATOR_FORMS = "'host', 'host:port', '[IPv6]', '[IPv6]:port' or a bare IPv6 address";

function ambiguous(source: string, raw: string, readings: readonly string[], why: string): BackendError {
  return new BackendError(
    'IncompatibleSettings',
    `${source}='${raw}' is ambiguous: ${why}`,
    { variable: source, value: raw, expected: readings },
    `set ${source}=${readings.map((r) => `'${r}'`).join(' or ')} (IPv6 with a port goes in brackets)`,
  );
}

/** `::1:8080` read as "IPv6 address, then a port": the address and port when that reading is possible. */
function portReading(text: string): { head: string; port: string } | undefined {
  const colon = text.lastIndexOf(':');
  const head = text.slice(0, colon);
  const port = text.slice(colon + 1);
  if (!/^\d+$/.test(port) || Number(port) > MAX_PORT || isIP(head) !== 6) return undefined;
  return { head, port };
}

function hostName(source: string, raw: string, host: string, expected: string): string {
  if (isIP(host) !== 0 || HOST_NAME.test(host)) return host;
  throw incompatible(source, raw, expected);
}

function portIn(source: string, whole: string, port: string): number {
  try {
    return parsePort(source, port);
  } catch {
    throw incompatible(source, whole, `a port number from 0 to ${MAX_PORT} after the ':'`);
  }
}

export { formatHostPort } from '../communicator/host-address.js';

/**
 * The coordinator named by `source` is some spelling of the unspecified address (`0`, `[::0]`,
 * `::ffff:0.0.0.0`, …; spec/selection.md §3.2): no rank can connect to it, and rank 0 would listen on
 * every interface. Listening there on purpose is the bind address's job, so rank 0 may name it there.
 */
export function refuseUnspecifiedCoordinator(
  host: { value: string; source: string },
  rank: number,
  bindAddr: string | undefined,
  variables: { readonly bindAddr: string; readonly token: string },
): void {
  const { address, scope } = normaliseHost(host.value);
  if (scope !== 'unspecified' || (rank === 0 && bindAddr !== undefined)) return;
  throw new BackendError(
    'IncompatibleSettings',
    `${host.source}='${host.value}' is the unspecified address (${address}): ${
      rank === 0 ? 'rank 0 would listen on all interfaces' : 'rank ' + rank + ' cannot connect to it'
    }`,
    { variable: host.source, value: host.value, normalised: address, rank },
    `set ${host.source} to rank 0's real address on every rank; to listen on all interfaces on purpose, also set ${variables.bindAddr}=0.0.0.0 on rank 0 (with ${variables.token})`,
  );
}

/** A coordinator address: `host`, `host:port`, `[ipv6]`, `[ipv6]:port`, or a bare IPv6 address. */
export function parseCoordinator(source: string, raw: string): { host: string; port: number | undefined } {
  const text = parseText(source, raw);
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    const [, host, port] = bracketed as unknown as [string, string, string | undefined];
    if (isIP(host) !== 6) {
      throw incompatible(
        source,
        raw,
        `an IPv6 address inside '[ ]' (a host name or IPv4 address goes without: ${host}${port === undefined ? '' : `:${port}`})`,
      );
    }
    return { host, port: port === undefined ? undefined : portIn(source, text, port) };
  }
  const colons = text.split(':').length - 1;
  if (colons === 0) return { host: hostName(source, raw, text, COORDINATOR_FORMS), port: undefined };
  if (colons === 1) {
    const [host, port] = text.split(':') as [string, string];
    return { host: hostName(source, raw, host, COORDINATOR_FORMS), port: portIn(source, text, port) };
  }
  const reading = portReading(text);
  if (isIP(text) === 6) {
    if (reading === undefined) return { host: text, port: undefined };
    throw ambiguous(
      source,
      raw,
      [`[${reading.head}]:${reading.port}`, `[${text}]`],
      `it is both the IPv6 address ${text} and ${reading.head} with port ${reading.port}`,
    );
  }
  if (reading !== undefined) {
    throw ambiguous(
      source,
      raw,
      [`[${reading.head}]:${reading.port}`],
      `${text} is no IPv6 address, so ${reading.port} must be a port, and an IPv6 address with a port needs brackets`,
    );
  }
  throw incompatible(source, raw, COORDINATOR_FORMS);
}

/**
 * An address that carries no port (COLLECTIVE_TCP_BIND_ADDR, MASTER_ADDR): a host name, an IPv4
 * address, or an IPv6 address with or without brackets. A port here belongs in `portVariable`.
 */
export function parseHostOnly(source: string, raw: string, portVariable: string): string {
  const text = parseText(source, raw);
  const expected = `a host name or an IP address without a port (the port goes in ${portVariable})`;
  const bracketed = /^\[([^\]]*)\]$/.exec(text);
  if (bracketed) {
    if (isIP(bracketed[1]!) !== 6) throw incompatible(source, raw, expected);
    return bracketed[1]!;
  }
  if (isIP(text) !== 0) return text;
  return hostName(source, raw, text, expected);
}
