/**
 * Direct links across namespace hosts (spec/backend-tcp.md §14.1): a link that cannot be opened — here
 * a route in rank 3's namespace prohibits rank 2's address, while both still reach rank 0 — makes
 * formation fail with InitializationFailed on every rank: rank 3's error names both ranks and the
 * address, the others' say the group failed while opening the direct links, naming rank 3's reason
 * (a rank still dialing stops and reports the group's cause, spec/backend-tcp.md §14.1).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createHosts, type Hosts } from '../support/netns.js';
import { startWorld } from './world.js';

const RANKS = 4;
const TEST_LIMIT_MS = 90_000;

let hosts: Hosts | undefined;

afterEach(async () => {
  await hosts?.teardown();
  hosts = undefined;
});

describe('direct links across namespace hosts', () => {
  it(
    'a link that cannot be opened fails formation on every rank, naming both ranks and the address',
    async () => {
      hosts = await createHosts({ count: RANKS });
      const blocked = hosts.hosts[2]!.address;
      execFileSync('ip', ['-n', hosts.hosts[3]!.namespace, 'route', 'add', 'prohibit', `${blocked}/32`]);
      const ranks = startWorld(hosts, { scenario: 'conformance', timeoutSecs: 20, algorithm: 'auto' });
      const exits = await Promise.all(ranks.map((r) => r.exited));
      for (const [r, exit] of exits.entries()) {
        expect(exit.code, `rank ${r}: ${ranks[r]!.stderr}`).not.toBe(0);
        expect(ranks[r]!.stderr, `rank ${r} ended with ${JSON.stringify(exit)}`).toMatch(
          /InitializationFailed/,
        );
      }
      expect(ranks[3]!.stderr).toMatch(
        new RegExp(
          `tcp rank 3: cannot open its direct link to rank 2 at ${blocked.replace(/\./g, '\\.')}:\\d+: EACCES`,
        ),
      );
      // Rank 0 and rank 1 report rank 3's cause; rank 2, still dialing rank 1, stops and reports it too
      // — unless rank 1, giving up for that cause, cut rank 2's handshake before rank 2 heard of it.
      for (const r of [0, 1])
        expect(ranks[r]!.stderr).toMatch(
          /while opening the direct links: .*rank 3: cannot open its direct link to rank 2/,
        );
      expect(ranks[2]!.stderr).toMatch(/rank 3: cannot open its direct link to rank 2|direct link to rank 1/);
    },
    TEST_LIMIT_MS,
  );
});
