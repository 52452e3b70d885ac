import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { train } from '../../src/index.js';
import type { DemoArgs, DemoResult } from '../../demo/logistic-worker.js';
import { onlyOversubscriptionWarnings } from '../support/warnings.js';

const DEMO_WORKER = new URL('../../demo/logistic-worker.ts', import.meta.url);
const DEMO_MAIN = fileURLToPath(new URL('../../demo/main.ts', import.meta.url));

function bytesOf(weights: Float64Array): Buffer {
  return Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength);
}

// Their launches of 3 workers warn on a 2-core machine; nothing else may warn.
onlyOversubscriptionWarnings();

describe('the demo', () => {
  it('trains the same weights to the last bit on shm and tcp, with uneven shards', async () => {
    // 3 workers and a sample count that divides by neither 3 nor the batch: the awkward case.
    const args: DemoArgs = { seed: 7, samples: 1_001, features: 5, epochs: 2, batch: 64, learningRate: 0.5 };
    const shm = await train<DemoResult, DemoArgs>(DEMO_WORKER, { numWorkers: 3, backend: 'shm', args });
    const tcp = await train<DemoResult, DemoArgs>(DEMO_WORKER, { numWorkers: 3, backend: 'tcp', args });
    expect(shm.backend).toBe('shm');
    expect(tcp.backend).toBe('tcp');
    expect(bytesOf(tcp.weights).equals(bytesOf(shm.weights))).toBe(true);
    expect(shm.accuracy).toBeGreaterThan(0.5);
  });

  it('npm start shows every epoch on both backends and says the weights are identical', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', DEMO_MAIN], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(stdout.match(/epoch +\d+\/20 +loss \d\.\d{5} +accuracy/g)).toHaveLength(40);
    expect(stdout).toContain('shm and tcp produced identical weights, to the last bit');
  });
});
