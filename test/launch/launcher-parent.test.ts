/**
 * The launcher stops its ranks when its own parent goes away (issue 11 item 17): under `npx collective
 * run`, a SIGTERM or SIGKILL to npx must not leave the launcher, reparented, and its ranks running.
 * A wrapper process stands in for npx; it forwards nothing.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitUntilGone } from './leftovers.js';
import { RANK_SCRIPT } from './run-cli.js';
import { streamText } from '../support/stream-text.js';

const WRAPPER = fileURLToPath(new URL('./fixtures/launcher-wrapper.ts', import.meta.url));
const RANKS = 2;

describe("collective run: the launcher's parent goes away", () => {
  it.each([
    ['tcp', 'SIGTERM'],
    ['tcp', 'SIGKILL'],
    ['shm', 'SIGTERM'],
  ] as const)('%s, the parent gets %s: the launcher and its ranks exit', async (backend, signal) => {
    const wrapper = spawn(
      process.execPath,
      ['--import', 'tsx', WRAPPER, '-n', String(RANKS), '--backend', backend, RANK_SCRIPT, 'plain-wait'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The launcher outlives the wrapper and writes its note on the stderr it inherited: read to the end.
    const stderr = streamText(wrapper.stderr);
    const pids: number[] = [];
    let partial = '';
    await new Promise<void>((resolve) => {
      wrapper.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const pid = /(?:launcher|ready) pid=(\d+)/.exec(line)?.[1];
          if (pid) pids.push(Number(pid));
        }
        if (pids.length === 1 + RANKS) resolve();
      });
    });
    wrapper.kill(signal);
    // The launcher, then every rank process (shm ranks are threads of the launcher).
    await waitUntilGone(pids);
    expect(pids).toHaveLength(1 + RANKS);
    expect(await stderr).toMatch(
      /^collective run: the launcher's parent \(pid \d+\) is gone; stopping every rank as on SIGTERM$/m,
    );
  });
});
