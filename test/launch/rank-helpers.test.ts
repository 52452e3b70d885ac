/**
 * A rank's own child processes do not outlive it (issue 11 item 6): every process rank leads a process
 * group, stopping a rank stops its group, a rank whose launcher vanished takes its group down, and
 * what is left of a group when its rank ends is killed. Each rank starts `sleep 300`; every exit path
 * must leave none of them running.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { train } from '../../src/launch/train.js';
import { waitUntilGone } from './leftovers.js';
import { RANK_SCRIPT, runCli } from './run-cli.js';
import { streamText } from '../support/stream-text.js';

const WORKER = new URL('./fixtures/worker.ts', import.meta.url);
const WRAPPER = fileURLToPath(new URL('./fixtures/launcher-wrapper.ts', import.meta.url));
const TRAIN_PARENT = fileURLToPath(new URL('./fixtures/train-parent.ts', import.meta.url));

function helperPids(lines: readonly string[]): number[] {
  return lines.map((line) => Number(/helper pid=(\d+)/.exec(line)?.[1]));
}

describe('collective run: a rank takes its child processes with it', () => {
  it('when a rank fails: the failed rank and the stopped ones', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', RANK_SCRIPT, 'helper', '1']);
    const helpers = helperPids(await run.waitForLines(/helper pid=/, 2));
    expect((await run.exited).code).toBe(3);
    await waitUntilGone(helpers);
  });

  it('when the launcher is SIGKILLed', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', RANK_SCRIPT, 'helper', '-1']);
    const helpers = helperPids(await run.waitForLines(/helper pid=/, 2));
    run.child.kill('SIGKILL');
    await waitUntilGone(helpers);
  });

  it('on SIGINT to the launcher process group (Ctrl-C)', async () => {
    const run = runCli(['-n', '2', '--backend', 'tcp', RANK_SCRIPT, 'helper', '-1'], {}, { detached: true });
    const helpers = helperPids(await run.waitForLines(/helper pid=/, 2));
    process.kill(-(run.child.pid as number), 'SIGINT');
    expect((await run.exited).code).toBe(128 + 2);
    await waitUntilGone(helpers);
  });
});

function helpersPids(lines: readonly string[]): number[] {
  return lines.flatMap((line) => {
    const list = /helpers pids=(\S+)/.exec(line)?.[1];
    return list === undefined ? [] : list.split(',').map(Number);
  });
}

describe('collective run: no helper of a rank outlives the job, thread ranks included', () => {
  it.each([
    ['shm', 'exit', 5],
    ['shm', 'throw', 1],
    ['shm', 'return', 0],
    ['tcp', 'exit', 5],
    ['tcp', 'throw', 1],
    ['tcp', 'return', 0],
  ] as const)('%s, rank 1 %s: the launcher ends every descendant', async (backend, how, status) => {
    const run = runCli(['-n', '2', '--backend', backend, RANK_SCRIPT, 'helpers', '1', how]);
    const helpers = helpersPids(await run.waitForLines(/helpers pids=/, 2));
    expect(helpers).toHaveLength(6);
    expect((await run.exited).code, run.stderr.join('\n')).toBe(status);
    await waitUntilGone(helpers);
  });

  it("shm, when the launcher's parent goes away", async () => {
    const wrapper = spawn(
      process.execPath,
      ['--import', 'tsx', WRAPPER, '-n', '2', '--backend', 'shm', RANK_SCRIPT, 'helpers', '-1', 'wait'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The launcher outlives the wrapper and writes its notes on the stderr it inherited: read to the end.
    const stderr = streamText(wrapper.stderr);
    const helpers: number[] = [];
    let partial = '';
    await new Promise<void>((resolve) => {
      wrapper.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        helpers.push(...helpersPids(lines));
        if (helpers.length === 6) resolve();
      });
    });
    wrapper.kill('SIGTERM');
    await waitUntilGone(helpers);
    const notes = await stderr;
    expect(notes).toMatch(/^collective run: the launcher's parent \(pid \d+\) is gone/m);
    expect(notes).toMatch(/^collective run: ended 6 process\(es\) the ranks left running: /m);
  });
});

describe('train(): a process worker takes its child processes with it', () => {
  it('when a worker fails', async () => {
    const helpers: number[] = [];
    const result = train(WORKER, {
      numWorkers: 2,
      backend: 'tcp',
      args: { mode: 'helper', failRank: 1 },
      onProgress: (event) => {
        if (event['kind'] === 'helper') helpers.push(event['pid'] as number);
      },
    });
    await expect(result).rejects.toMatchObject({ name: 'WorkerError', rank: 1 });
    expect(helpers).toHaveLength(2);
    await waitUntilGone(helpers);
  });

  it('when the parent is SIGKILLed', async () => {
    const parent = spawn(process.execPath, ['--import', 'tsx', TRAIN_PARENT, 'helper'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const helpers: number[] = [];
    let partial = '';
    await new Promise<void>((resolve) => {
      parent.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        helpers.push(...helperPids(lines.filter((l) => l.startsWith('helper pid='))));
        if (helpers.length === 2) resolve();
      });
    });
    parent.kill('SIGKILL');
    await waitUntilGone(helpers);
  });
});
