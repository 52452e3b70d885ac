/**
 * Every spelling of an address the operating system accepts, normalised and classified
 * (spec/backend-tcp.md §1.1): one row per spelling. Numeric rows are checked against getaddrinfo()
 * itself (dns.lookup of a numeric host never leaves the machine), so the table cannot drift from
 * what listen() and connect() really do.
 */
import { lookup } from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { formatHostPort, normaliseHost, type HostScope } from '../../src/communicator/host-address.js';

/** [spelling, canonical address, scope, whether getaddrinfo reads it as a number]. */
const ROWS: ReadonlyArray<readonly [string, string, HostScope, boolean]> = [
  // Every spelling of the unspecified address: listening on it means every interface.
  ['0.0.0.0', '0.0.0.0', 'unspecified', true],
  ['0', '0.0.0.0', 'unspecified', true],
  ['0.0.0', '0.0.0.0', 'unspecified', true],
  ['0.0', '0.0.0.0', 'unspecified', true],
  ['00', '0.0.0.0', 'unspecified', true],
  ['0x0', '0.0.0.0', 'unspecified', true],
  ['0x', '0x', 'other', false],
  ['::', '::', 'unspecified', true],
  ['[::]', '::', 'unspecified', false],
  ['::0', '::', 'unspecified', true],
  ['[::0]', '::', 'unspecified', false],
  ['0::', '::', 'unspecified', true],
  ['0:0:0:0:0:0:0:0', '::', 'unspecified', true],
  ['[0:0:0:0:0:0:0:0]', '::', 'unspecified', false],
  ['0000:0000:0000:0000:0000:0000:0000:0000', '::', 'unspecified', true],
  ['::0.0.0.0', '::', 'unspecified', true],
  ['::ffff:0.0.0.0', '::ffff:0.0.0.0', 'unspecified', true],
  ['::ffff:0:0', '::ffff:0.0.0.0', 'unspecified', true],
  ['', '', 'unspecified', false],
  // Loopback: all of 127.0.0.0/8, ::1, IPv4-mapped loopback, localhost.
  ['127.0.0.1', '127.0.0.1', 'loopback', true],
  ['127.0.0.2', '127.0.0.2', 'loopback', true],
  ['127.255.255.254', '127.255.255.254', 'loopback', true],
  ['127.1', '127.0.0.1', 'loopback', true],
  ['0x7f.1', '127.0.0.1', 'loopback', true],
  ['0177.0.0.1', '127.0.0.1', 'loopback', true],
  ['2130706433', '127.0.0.1', 'loopback', true],
  ['::1', '::1', 'loopback', true],
  ['[::1]', '::1', 'loopback', false],
  ['0:0:0:0:0:0:0:1', '::1', 'loopback', true],
  ['::ffff:127.0.0.1', '::ffff:127.0.0.1', 'loopback', true],
  ['::FFFF:7F00:1', '::ffff:127.0.0.1', 'loopback', true],
  ['::ffff:127.9.8.7', '::ffff:127.9.8.7', 'loopback', true],
  ['localhost', 'localhost', 'loopback', false],
  ['LocalHost', 'LocalHost', 'loopback', false],
  ['localhost.', 'localhost.', 'loopback', false],
  // Everything else: a LAN address, mapped or not, an IPv4-compatible address, names.
  ['10.1.2.3', '10.1.2.3', 'other', true],
  ['::ffff:10.1.2.3', '::ffff:10.1.2.3', 'other', true],
  ['::127.0.0.1', '::127.0.0.1', 'other', true],
  ['128.0.0.1', '128.0.0.1', 'other', true],
  ['126.255.255.255', '126.255.255.255', 'other', true],
  ['0.0.0.1', '0.0.0.1', 'other', true],
  ['1', '0.0.0.1', 'other', true],
  ['::2', '::2', 'other', true],
  ['fe80::1%lo', 'fe80::1%lo', 'other', false],
  ['192.168.0.1', '192.168.0.1', 'other', true],
  ['node07', 'node07', 'other', false],
  ['localhost.example.com', 'localhost.example.com', 'other', false],
  ['0.0.0.0.', '0.0.0.0.', 'other', false],
  ['256.0.0.1', '256.0.0.1', 'other', false],
  ['08', '08', 'other', false],
  ['4294967295', '255.255.255.255', 'other', true],
  ['0xffffffff', '255.255.255.255', 'other', true],
  ['4294967296', '4294967296', 'other', false],
  ['1.2.3.4.5', '1.2.3.4.5', 'other', false],
];

describe('host addresses', () => {
  it.each(ROWS)('%j normalises to %j (%s)', (spelling, address, scope) => {
    expect(normaliseHost(spelling)).toMatchObject({ address, scope });
  });

  it('numeric spellings normalise to what getaddrinfo() makes of them', async () => {
    for (const [spelling, address] of ROWS.filter((row) => row[3])) {
      const resolved = await lookup(spelling, { all: true });
      expect(
        resolved.map((r) => normaliseHost(r.address).address),
        spelling,
      ).toEqual([address]);
    }
  });

  it('host:port puts an IPv6 literal in brackets, once', () => {
    expect(formatHostPort('::1', 29500)).toBe('[::1]:29500');
    expect(formatHostPort('[::1]', 29500)).toBe('[::1]:29500');
    expect(formatHostPort('::ffff:127.0.0.1', 1)).toBe('[::ffff:127.0.0.1]:1');
    expect(formatHostPort('127.0.0.1', 29500)).toBe('127.0.0.1:29500');
    expect(formatHostPort('node07', 29500)).toBe('node07:29500');
  });
});
