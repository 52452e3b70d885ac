/**
 * More ranks than cores is one warning per launch (spec/train.md §7.2, spec/selection.md §7), whichever
 * launcher started the ranks and whichever backend they use: the launcher says it, and a shm rank 0 it
 * started does not say it again.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RANK_SCRIPT, runCli } from './run-cli.js';

const TRAIN_PROGRAM = fileURLToPath(new URL('./fixtures/train-oversubscribed.ts', import.meta.url));
/** One rank more than cores, so the warning is due on any machine. */
const RANKS = availableParallelism() + 1;
const BACKENDS = ['shm', 'tcp'] as const;
const OVERSUBSCRIBED = /COLLECTIVE_OVERSUBSCRIBED/;

function runTrain(backend: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', TRAIN_PROGRAM, backend], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('more ranks than cores', () => {
  it.each(BACKENDS)('collective run -n cores+1 --backend %s warns once', async (backend) => {
    const run = runCli(['-n', String(RANKS), '--backend', backend, RANK_SCRIPT, 'hello']);
    expect((await run.exited).code, run.stderr.join('\n')).toBe(0);
    const warnings = run.stderr.filter((line) => /cores/.test(line));
    expect(warnings, run.stderr.join('\n')).toHaveLength(1);
    expect(warnings[0]).toMatch(OVERSUBSCRIBED);
    expect(warnings[0]).toContain(`${RANKS} ${backend} ranks`);
  });

  it.each(BACKENDS)('train() with cores+1 %s workers warns once', async (backend) => {
    const ran = await runTrain(backend);
    expect(ran.code, ran.stderr).toBe(0);
    const total = (RANKS * (RANKS + 1)) / 2;
    expect(ran.stdout).toBe(`total=${total}\n`);
    const warnings = ran.stderr.split('\n').filter((line) => /cores/.test(line));
    expect(warnings, ran.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(OVERSUBSCRIBED);
    expect(warnings[0]).toContain(`${RANKS} ${backend} ranks`);
  });
});
