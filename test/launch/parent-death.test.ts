import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { assertAllGone } from './leftovers.js';

const TRAIN_PARENT = fileURLToPath(new URL('./fixtures/train-parent.ts', import.meta.url));

it('workers of a SIGKILLed train() parent exit on their own (tcp)', async () => {
  const parent = spawn(process.execPath, ['--import', 'tsx', TRAIN_PARENT], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pids: number[] = [];
  let partial = '';
  const bothStarted = new Promise<void>((resolve) => {
    parent.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const pid = /worker pid=(\d+)/.exec(line)?.[1];
        if (pid) pids.push(Number(pid));
      }
      if (pids.length === 2) resolve();
    });
  });
  // The workers write to the parent's stdout (stdio is inherited): the pipe closes only once the
  // parent and every worker are gone, which is the event this test waits for.
  const everyWriterGone = new Promise<void>((resolve) => parent.stdout.once('close', resolve));
  await bothStarted;
  parent.kill('SIGKILL');
  await everyWriterGone;
  expect(pids).toHaveLength(2);
  assertAllGone(pids);
});
