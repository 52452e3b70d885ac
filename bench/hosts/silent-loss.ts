/**
 * How long a silent link loss takes to surface with the default fatal timeout (1800 s): 4 tcp ranks on
 * namespace hosts (test/support/netns.ts) enter an 8 MiB allreduce, rank 2's link is cut
 * (`ip link set eth0 down`: no FIN, no RST), and each rank's pending call is timed until it settles —
 * by TCP keepalive, by retransmission giving up, or by the fatal timeout, whichever comes first.
 * Minutes, not a test: spec/backend-tcp.md §9.1 quotes it. Needs root and iproute2.
 *
 *   npx tsx bench/hosts/silent-loss.ts [--timeout-secs 1800]
 */
import { createHosts } from '../../test/support/netns.js';
import { startWorld } from '../../test/hosts/world.js';

const args = process.argv.slice(2);
const at = args.indexOf('--timeout-secs');
const timeoutSecs = at >= 0 ? Number(args[at + 1]) : 1800;
const RANKS = 4;
const VICTIM = 2;
/** The victim's link is slow enough that the cut lands while its 8 MiB are still crossing. */
const VICTIM_RATE = '50mbit';
const ELEMENTS = 1024 * 1024;

const hosts = await createHosts({ count: RANKS });
try {
  await hosts.limit(VICTIM, VICTIM_RATE);
  const world = startWorld(hosts, { scenario: 'failure', timeoutSecs });
  await Promise.all(world.map((r) => r.next('ready')));
  for (const r of world) r.send({ type: 'go', elements: ELEMENTS });
  await Promise.all(world.map((r) => r.next('entered')));
  await hosts.cut(VICTIM);
  const cutAt = Date.now();
  console.log(`cut rank ${VICTIM}'s link; COLLECTIVE_TIMEOUT_SECS=${timeoutSecs}`);
  await Promise.all(
    world.map(async (r) => {
      const s = await r.next('settled');
      const secs = (((s['at'] as number) - cutAt) / 1000).toFixed(1);
      console.log(`rank ${r.rank}: ${String(s['code'])} after ${secs} s: ${String(s['message'])}`);
    }),
  );
} finally {
  await hosts.teardown();
}
