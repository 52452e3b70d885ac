/**
 * Threads in a shm group: init() with no options finds the group in workerData and picks shm; the
 * thread-rank constant in selection equals the shm backend's; too many spinning ranks warn once.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createShmGroup, SHM_WORKER_DATA_KEY as BACKEND_KEY } from '../../src/backends/shm/index.js';
import { SHM_WORKER_DATA_KEY } from '../../src/selection/shm-group.js';
import { referenceReduce, sameBits } from '../support/reference.js';

const RANK_PROGRAM = new URL('./fixtures/shm-rank.ts', import.meta.url);
// Worker threads on Node 20 ignore --import in execArgv, so the thread registers tsx itself.
const TSX_API = pathToFileURL(
  join(
    dirname(createRequire(import.meta.url).resolve('tsx/package.json')),
    'dist',
    'esm',
    'api',
    'index.mjs',
  ),
);
const BOOT = `import(${JSON.stringify(TSX_API.href)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(RANK_PROGRAM.href)}); });`;

interface Report {
  rank: number;
  size: number;
  backend: string;
  sum: number[];
  warnings: string[];
}

function runRank(group: unknown, rank: number): Promise<Report> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, { eval: true, workerData: { [SHM_WORKER_DATA_KEY]: { group, rank } } });
    let report: Report | undefined;
    worker.once('message', (message: Report) => (report = message));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      report && code === 0 ? resolve(report) : reject(new Error(`rank ${rank} exited with ${code}`)),
    );
  });
}

describe('shm group', () => {
  it("selection's workerData key is the shm backend's", () => {
    expect(SHM_WORKER_DATA_KEY).toBe(BACKEND_KEY);
  });

  it('threads of a group pick shm by themselves; more ranks than cores warn once, from rank 0', async () => {
    // One more rank than cores, so the oversubscription warning must fire on any machine.
    const size = availableParallelism() + 1;
    const group = createShmGroup({ size, dataBytes: 2 * size * 64 * 1024 });
    const reports = await Promise.all(Array.from({ length: size }, (_, rank) => runRank(group.handle, rank)));
    const parts = reports.map((r) => Float64Array.from([r.rank + 1, 1 / (r.rank + 3)]));
    const expected = new Float64Array(2);
    referenceReduce('float64', 'sum', parts, expected);
    for (const report of reports) {
      expect(report).toMatchObject({ size, backend: 'shm' });
      expect(sameBits(Float64Array.from(report.sum), expected)).toBe(true);
      expect(report.warnings).toEqual(report.rank === 0 ? ['COLLECTIVE_OVERSUBSCRIBED'] : []);
    }
  });
});
