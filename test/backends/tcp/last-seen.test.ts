/**
 * Errors name the rank that caused them, with what it was last seen doing (spec/backend-tcp.md §7.2):
 * a rank frozen (SIGSTOP) after sending the start of a large allreduce is reported as having sent
 * part of its data, then nothing — not as "never arrived" — in the stall warning and in the Timeout
 * of every waiting rank.
 */
import { afterEach, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { closeAll, errorOf, RankChild, startRankZero, BASE } from './support.js';
import { connectTcp } from '../../../src/backends/tcp/index.js';

/** Far more than loopback socket buffers hold, so the frozen rank has sent only part of it (64 MiB). */
const ELEMENTS = (64 * 1024 * 1024) / 8;

let open: Communicator[] = [];
const children: RankChild[] = [];
afterEach(async () => {
  await closeAll(open);
  open = [];
  for (const c of children.splice(0)) {
    if (c.child.signalCode === null && c.child.exitCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
});

it('a rank frozen mid-send is reported with how much it sent, on every waiting rank', async () => {
  const warnings: string[] = [];
  const options = { timeoutSecs: 2, stallWarningSecs: 0.5, onWarning: (m: string) => warnings.push(m) };
  const { port, comm } = await startRankZero(3, options);
  const rank1 = connectTcp({ ...BASE, ...options, rank: 1, size: 3, port });
  const frozen = new RankChild({ rank: 2, size: 3, port, scenario: 'send-allreduce', elements: ELEMENTS });
  children.push(frozen);
  open = await Promise.all([comm, rank1]);
  await frozen.next('called');
  frozen.child.kill('SIGSTOP');
  const errors = await Promise.all(open.map((c) => errorOf(c.allreduce(new Float64Array(ELEMENTS).fill(1)))));
  const partial = /rank 2 sent \d+(\.\d)? (B|KiB|MiB) of 64\.0 MiB, then nothing for \d+\.\d s/;
  for (const e of errors) {
    expect(e.code).toBe('Timeout');
    expect(e.details).toMatchObject({ sequence: 0, missing: [2] });
    expect(e.message).toMatch(partial);
    expect(e.message).not.toMatch(/never arrived/);
  }
  for (const who of ['tcp rank 0:', 'tcp rank 1:'])
    expect(warnings.find((w) => w.startsWith(who))).toMatch(partial);
  frozen.child.kill('SIGCONT');
  expect(['Timeout', 'CollectiveFailed']).toContain((await frozen.next('error'))['code']);
});

it('a rank killed mid-send is named with how much of the collective it had sent', async () => {
  const { port, comm } = await startRankZero(2, { timeoutSecs: 30 });
  const victim = new RankChild({ rank: 1, size: 2, port, scenario: 'send-allreduce', elements: ELEMENTS });
  children.push(victim);
  open = [await comm];
  await victim.next('called');
  victim.child.kill('SIGSTOP');
  const call = errorOf(open[0]!.allreduce(new Float64Array(ELEMENTS)));
  victim.child.kill('SIGKILL');
  const e = await call;
  expect(e.code).toBe('CollectiveFailed');
  expect(e.details?.['rank']).toBe(1);
  expect(e.message).toMatch(
    /rank 1 (disconnected|lost its connection) .* after sending \d+(\.\d)? (B|KiB|MiB) of 64\.0 MiB of collective #0/,
  );
});
