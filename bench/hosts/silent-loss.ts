/**
 * How long a lost rank takes to surface, per collective algorithm: 4 tcp ranks on namespace hosts
 * (test/support/netns.ts) enter an 8 MiB allreduce, then rank 2 is lost — its link cut (`ip link set
 * eth0 down`: no FIN, no RST) or its namespace deleted and its process killed — and each rank's pending
 * call is timed until it settles: by TCP keepalive, by retransmission giving up, or by the fatal
 * timeout, whichever comes first. With the default fatal timeout (1800 s) this takes minutes: not a
 * test; spec/backend-tcp.md §9.1 quotes it. With `--timeout-secs 3` it measures what
 * test/hosts/failures.test.ts asserts. Needs root and iproute2.
 *
 *   npx tsx bench/hosts/silent-loss.ts [--timeout-secs 1800] [--algorithms star,direct] [--losses cut,delete]
 */
import { parseArgs } from 'node:util';
import { createHosts } from '../../test/support/netns.js';
import { startWorld } from '../../test/hosts/world.js';

const { values } = parseArgs({
  options: {
    'timeout-secs': { type: 'string', default: '1800' },
    algorithms: { type: 'string', default: 'star' },
    losses: { type: 'string', default: 'cut' },
  },
});
const timeoutSecs = Number(values['timeout-secs']);
const algorithms = values.algorithms!.split(',') as Array<'star' | 'direct' | 'auto'>;
const losses = values.losses!.split(',') as Array<'cut' | 'delete'>;
const RANKS = 4;
const VICTIM = 2;
/** The victim's link is slow enough that the loss lands while its 8 MiB are still crossing. */
const VICTIM_RATE = '50mbit';
const ELEMENTS = 1024 * 1024;

const rows: string[] = [];

async function lose(algorithm: 'star' | 'direct' | 'auto', loss: 'cut' | 'delete'): Promise<void> {
  const hosts = await createHosts({ count: RANKS });
  try {
    await hosts.limit(VICTIM, VICTIM_RATE);
    const world = startWorld(hosts, { scenario: 'failure', timeoutSecs, algorithm });
    await Promise.all(world.map((r) => r.next('ready')));
    for (const r of world) r.send({ type: 'go', elements: ELEMENTS });
    await Promise.all(world.map((r) => r.next('entered')));
    if (loss === 'cut') await hosts.cut(VICTIM);
    else {
      await hosts.deleteName(VICTIM);
      world[VICTIM]!.child.kill('SIGKILL');
    }
    const lostAt = Date.now();
    const alive = loss === 'cut' ? world : world.filter((r) => r.rank !== VICTIM);
    await Promise.all(
      alive.map(async (r) => {
        const s = await r.next('settled');
        const secs = (((s['at'] as number) - lostAt) / 1000).toFixed(2);
        const message = String(s['message']).split('\n')[0]!.slice(0, 140);
        rows.push(`| ${algorithm} | ${loss} | ${r.rank} | ${String(s['code'])} | ${secs} | ${message} |`);
      }),
    );
  } finally {
    await hosts.teardown();
  }
}

for (const algorithm of algorithms) for (const loss of losses) await lose(algorithm, loss);
console.log(
  `${RANKS} ranks, 8 MiB allreduce, rank ${VICTIM} lost mid-call; COLLECTIVE_TIMEOUT_SECS=${timeoutSecs}`,
);
console.log('| Algorithm | Loss | Rank | Error | Seconds after the loss | Message |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
