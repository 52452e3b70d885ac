/**
 * What a host string means to the operating system, before anything listens or connects
 * (spec/backend-tcp.md §1.1). `0`, `0.0.0`, `[::0]`, `0:0:0:0:0:0:0:0` and `::ffff:0.0.0.0` all bind
 * every interface; `127.1` and `::ffff:127.0.0.1` are loopback. Checks that compare spellings
 * (`host === '0.0.0.0'`) miss most of them, so every check classifies the normalised address.
 * Shared by the tcp backend and selection, hence here at the bottom of the layers.
 */
import { BlockList, SocketAddress, isIP } from 'node:net';

/** Where an address reaches: this machine only, every interface, or anything else (a name, a LAN address). */
export type HostScope = 'loopback' | 'unspecified' | 'other';

export interface NormalisedHost {
  /** The canonical spelling: dotted IPv4, compressed lower-case IPv6 (no brackets), or the name as given. */
  readonly address: string;
  /** 4 or 6 for an IP literal, 0 for a name. */
  readonly family: 0 | 4 | 6;
  readonly scope: HostScope;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');

/** `localhost` in any case, with or without the root's trailing dot. */
const LOCALHOST = /^localhost\.?$/i;

const IPV4_PARTS = 4;
const BITS_PER_BYTE = 8;
const IPV4_MAX = 0xffff_ffff;

/**
 * The 1-to-4-part numeric IPv4 forms getaddrinfo() accepts through inet_aton(3) — and so does Node's
 * listen()/connect() for a host that is not an IP literal: `0` = `0.0.0.0`, `127.1` = `127.0.0.1`,
 * `0x7f.1`, `017700000001`. Each part is decimal, octal (leading 0) or hex (0x); the last part fills
 * the remaining bytes. Undefined when `text` is not such a number.
 */
function inetAton(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length > IPV4_PARTS) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(part)) value = parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return undefined;
    values.push(value);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 0xff)) return undefined;
  const lastBytes = IPV4_PARTS - values.length;
  if (last >= 2 ** (BITS_PER_BYTE * lastBytes)) return undefined;
  let whole = last;
  values.forEach((v, i) => (whole += v * 2 ** (BITS_PER_BYTE * (IPV4_PARTS - 1 - i))));
  if (whole > IPV4_MAX) return undefined;
  return [24, 16, 8, 0].map((shift) => Math.floor(whole / 2 ** shift) % 256).join('.');
}

function scopeOf(address: string, family: 'ipv4' | 'ipv6'): HostScope {
  // BlockList matches an IPv4-mapped IPv6 address (::ffff:127.0.0.1) against the IPv4 rules too.
  if (LOOPBACK.check(address, family)) return 'loopback';
  if (UNSPECIFIED.check(address, family)) return 'unspecified';
  return 'other';
}

/** `host` as the operating system will read it: canonical spelling and scope. Never throws. */
export function normaliseHost(host: string): NormalisedHost {
  const bracketed = /^\[(.*)\]$/.exec(host);
  const text = bracketed && isIP(bracketed[1]!) === 6 ? bracketed[1]! : host;
  if (text === '') return { address: '', family: 0, scope: 'unspecified' };
  if (isIP(text) === 6) {
    const zone = text.includes('%') ? text.slice(text.indexOf('%')) : '';
    const bare = zone === '' ? text : text.slice(0, text.indexOf('%'));
    const address = new SocketAddress({ address: bare, family: 'ipv6' }).address + zone;
    return { address, family: 6, scope: scopeOf(bare, 'ipv6') };
  }
  const ipv4 = isIP(text) === 4 ? text : inetAton(text);
  if (ipv4 !== undefined) {
    const address = new SocketAddress({ address: ipv4, family: 'ipv4' }).address;
    return { address, family: 4, scope: scopeOf(address, 'ipv4') };
  }
  return { address: host, family: 0, scope: LOCALHOST.test(host) ? 'loopback' : 'other' };
}

/** `host:port` as a user writes it back: an IPv6 literal in brackets (`[::1]:33523`). */
export function formatHostPort(host: string, port: number): string {
  const bracketed = /^\[(.*)\]$/.exec(host);
  const bare = bracketed ? bracketed[1]! : host;
  return `${isIP(bare) === 6 ? `[${bare}]` : host}:${port}`;
}
