import { createHosts } from './test/support/netns.js';
import { startWorld } from './test/hosts/world.js';
const hosts = await createHosts({ count: 4 });
try {
  await hosts.limit(2, '50mbit');
  const world = startWorld(hosts, { scenario: 'failure', timeoutSecs: 3, algorithm: 'direct' });
  await Promise.all(world.map((r) => r.next('ready')));
  for (const r of world) r.send({ type: 'go', elements: 1024 * 1024 });
  await Promise.all(world.map((r) => r.next('entered')));
  await hosts.cut(2);
  const t = Date.now();
  await Promise.all(world.map(async (r) => {
    const s = await r.next('settled').catch((e) => ({ error: String(e) }));
    const a = await r.next('after').catch((e) => ({ error: String(e) }));
    const ex = await r.exited;
    console.log(r.rank, JSON.stringify(s).slice(0, 300), JSON.stringify(a), 'exit', JSON.stringify(ex), 'at', Date.now() - t, 'stderr:', r.stderr);
  }));
} finally { await hosts.teardown(); }
