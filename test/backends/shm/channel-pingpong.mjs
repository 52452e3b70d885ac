/**
 * Raw shm pair-channel ping-pong (spec/backend-shm.md §9.6): two worker threads, rank 0 posts a frame
 * of `bytes`, rank 1 answers with the same size, both spinning on poll(). Not a test: a measurement
 * on the compiled library. `npx tsc -p tsconfig.build.json && node test/backends/shm/channel-pingpong.mjs
 * [bytes=8] [iterations=5000] [ringBytes]` prints the median (of 7 batches) one-way time and bandwidth.
 */
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
const DIST = process.env.DIST ?? new URL('../../../dist', import.meta.url).href;
if (isMainThread) {
  const { createShmGroup } = await import(`${DIST}/backends/shm/index.js`);
  const bytes = Number(process.argv[2] ?? 8),
    N = Number(process.argv[3] ?? 5000),
    ring = process.argv[4] ? Number(process.argv[4]) : undefined;
  const group = createShmGroup(ring ? { size: 2, ringBytes: ring } : { size: 2 });
  for (const rank of [0, 1]) {
    const w = new Worker(new URL(import.meta.url), { workerData: { handle: group.handle, rank, bytes, N } });
    w.on('message', (m) =>
      console.log(
        `channel ping-pong ${bytes} B ring ${ring ?? 'default'}: ${m.toFixed(2)} µs one way (median of 7), ${(bytes / m / 1000).toFixed(2)} GB/s`,
      ),
    );
  }
} else {
  const { joinShm } = await import(`${DIST}/backends/shm/shm-backend.js`);
  const { handle, rank, bytes, N } = workerData;
  const be = await joinShm({ group: handle, rank, timeoutSecs: 60 });
  let got = 0;
  be.channel.attach(
    () => {
      got++;
    },
    () => {},
  );
  be.channel.setActive(true);
  const h = new Uint8Array(32),
    p = new Uint8Array(bytes);
  const times = [];
  let n = 0;
  for (let b = 0; b < 8; b++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++, n++) {
      if (rank === 0) {
        const q = be.channel.post(1, h, p);
        if (q) await q;
      }
      while (got <= n) {
        if (!be.channel.poll()) {
          /* spin */
        }
        if (got <= n && bytes > 65536) await null;
      }
      if (rank === 1) {
        const q = be.channel.post(0, h, p);
        if (q) await q;
      }
    }
    if (b > 0) times.push(((performance.now() - t0) * 1000) / N / 2);
  }
  times.sort((x, y) => x - y);
  if (rank === 0) parentPort.postMessage(times[3]);
  be.channel.setActive(false);
  await be.close();
}
