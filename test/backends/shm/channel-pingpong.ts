/**
 * Raw pair-channel ping-pong between two worker threads (not a test: a measurement, §9.6).
 * `npx tsx test/backends/shm/channel-pingpong.ts [bytes] [iterations] [ringBytes]`: rank 0 posts a
 * frame of `bytes`, rank 1 answers with the same size; prints the median round trip / 2 (µs) of
 * 7 batches and the bandwidth it implies. Receivers spin on poll() and then sleep in waitForFrames,
 * as the message engine does.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createShmGroup } from '../../../src/backends/shm/index.js';
import { joinShm } from '../../../src/backends/shm/shm-backend.js';
import type { ShmGroupHandle } from '../../../src/backends/shm/group.js';
import { bootstrapFor } from './thread-world.js';

const BATCHES = 7;
const SPIN_MS = 5;

interface Data {
  group: ShmGroupHandle;
  rank: number;
  bytes: number;
  iterations: number;
}

async function rankMain(data: Data): Promise<void> {
  const backend = await joinShm({ group: data.group, rank: data.rank, timeoutSecs: 60 });
  const channel = backend.channel;
  let arrived = 0;
  channel.attach(
    () => void arrived++,
    (error) => {
      throw error;
    },
  );
  channel.setActive(true);
  const header = new Uint8Array(32);
  const payload = new Uint8Array(data.bytes);
  const peer = 1 - data.rank;
  const waitFor = async (n: number): Promise<void> => {
    for (;;) {
      const until = performance.now() + SPIN_MS;
      while (arrived < n && performance.now() < until) channel.poll!();
      if (arrived >= n) return;
      await channel.waitForFrames!(10);
      channel.poll!();
    }
  };
  const times: number[] = [];
  for (let b = 0; b <= BATCHES; b++) {
    const t0 = performance.now();
    for (let i = 0; i < data.iterations; i++) {
      if (data.rank === 0) {
        const p = channel.post(peer, header, payload);
        if (p) await p;
        await waitFor(arrived + 1);
      } else {
        await waitFor(arrived + 1);
        const p = channel.post(peer, header, payload);
        if (p) await p;
      }
    }
    if (b > 0) times.push(((performance.now() - t0) * 1000) / data.iterations / 2);
  }
  times.sort((x, y) => x - y);
  parentPort!.postMessage(times[BATCHES >> 1]);
  channel.setActive(false);
  await backend.close();
}

if (isMainThread) {
  const bytes = Number(process.argv[2] ?? 8);
  const iterations = Number(process.argv[3] ?? (bytes > 65536 ? 200 : 20000));
  const ringBytes = process.argv[4] ? Number(process.argv[4]) : undefined;
  const group = createShmGroup(ringBytes ? { size: 2, ringBytes } : { size: 2 });
  const url = new URL(import.meta.url).href;
  const results = await Promise.all(
    [0, 1].map(
      (rank) =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(bootstrapFor(url), {
            eval: true,
            workerData: { group: group.handle, rank, bytes, iterations } satisfies Data,
          });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  const us = results[0]!;
  console.log(
    `shm channel ping-pong ${bytes} B (ring ${ringBytes ?? 'default'}): ${us.toFixed(2)} µs one way (median of ${BATCHES}), ${((bytes / us) * 1e-3).toFixed(2)} GB/s`,
  );
} else {
  await rankMain(workerData as Data);
}
