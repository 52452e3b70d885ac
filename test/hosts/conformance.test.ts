/**
 * The tcp backend across namespace hosts (spec/backend-tcp.md §9.1): 4 ranks, one per network namespace,
 * joined by veth links to a bridge; rank 0 listens on its host's 10.213.0.1 with a token. Ranks find tcp
 * and the coordinator from WORLD_SIZE/RANK/MASTER_ADDR alone and run a conformance subset (allreduce,
 * allgatherv, broadcast, barrier, objects at a few sizes), each result checked bit for bit — once on
 * plain links and once on links rate-limited with tbf.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHosts, type Hosts } from '../support/netns.js';
import { startWorld } from './world.js';

const RANKS = 4;
/** A lost rank fails the run long before the test's own limit. */
const RANK_TIMEOUT_SECS = 30;
const TEST_LIMIT_MS = 90_000;
/** The subset's case count (fixtures/host-rank.ts, conformance). */
const CASES = 15;

let hosts: Hosts | undefined;

afterEach(async () => {
  await hosts?.teardown();
  hosts = undefined;
});

describe('tcp across namespace hosts', () => {
  for (const rate of [undefined, '200mbit']) {
    it(
      `${RANKS} ranks on ${RANKS} hosts${rate ? ` (links limited to ${rate})` : ''}: the conformance subset is exact`,
      async () => {
        hosts = await createHosts({ count: RANKS, rate });
        const ranks = startWorld(hosts, { scenario: 'conformance', timeoutSecs: RANK_TIMEOUT_SECS });
        const done = await Promise.all(ranks.map((r) => r.next('done')));
        for (const [rank, message] of done.entries()) {
          expect(message).toMatchObject({ backend: 'tcp', coordinator: { host: '10.213.0.1', port: 29500 } });
          const cases = ranks[rank]!.drain('case');
          expect(cases).toHaveLength(CASES);
          for (const c of cases) expect(c, `rank ${rank}: ${String(c['name'])}`).toMatchObject({ ok: true });
        }
        for (const r of ranks) expect((await r.exited).code, r.stderr).toBe(0);
      },
      TEST_LIMIT_MS,
    );
  }
});
