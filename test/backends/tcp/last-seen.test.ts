/**
 * Errors name the rank that caused them, with what it was last seen doing (spec/backend-tcp.md §7.2):
 * a rank frozen (SIGSTOP) after sending the start of a large allreduce is reported as having sent
 * part of its data, then nothing — not as "never arrived" — in the stall warning and in the Timeout
 * of every waiting rank.
 */
import { afterEach, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { closeAll, errorOf, RankChild, startRankZero, BASE, stopChildren } from './support.js';
import { connectTcp } from '../../../src/backends/tcp/index.js';

/** Far more than loopback socket buffers hold, so the frozen rank has sent only part of it (64 MiB). */
const ELEMENTS = (64 * 1024 * 1024) / 8;
/** The frozen rank's own timeout (s): far below how long it stays stopped. */
const FROZEN_TIMEOUT_SECS = 0.5;

let open: Communicator[] = [];
const children: RankChild[] = [];
afterEach(async () => {
  await closeAll(open);
  open = [];
  await stopChildren(children);
});

it('a rank frozen mid-send is reported with how much it sent, on every waiting rank', async () => {
  const warnings: string[] = [];
  const options = { timeoutSecs: 4, stallWarningSecs: 0.5, onWarning: (m: string) => warnings.push(m) };
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
  // Each waiting rank relays rank 0's view of the frozen rank. (A worker may also warn on its own first that
  // rank 0 sent nothing, at twice the interval, when a loaded machine delays rank 0's Warning frame.)
  for (const who of ['tcp rank 0:', 'tcp rank 1:']) {
    const own = warnings.filter((w) => w.startsWith(who));
    expect(
      own.some((w) => partial.test(w)),
      own.join('\n'),
    ).toBe(true);
  }
  frozen.child.kill('SIGCONT');
  expect(['Timeout', 'CollectiveFailed']).toContain((await frozen.next('error'))['code']);
});

/** Starts rank 0 (in this process) and a worker child that sends 64 MiB, stopped once its call is made. */
async function frozenWorker(rank0Options: Record<string, unknown>) {
  const { port, comm } = await startRankZero(2, rank0Options);
  const frozen = new RankChild({
    rank: 1,
    size: 2,
    port,
    scenario: 'send-allreduce',
    elements: ELEMENTS,
    timeoutSecs: FROZEN_TIMEOUT_SECS,
  });
  children.push(frozen);
  const rank0 = await comm;
  open = [rank0];
  await frozen.next('called');
  frozen.child.kill('SIGSTOP');
  return { rank0, frozen };
}

it('a rank stopped past its own silence limit does not blame rank 0 on resuming', async () => {
  // Rank 0's first stall warning (1.5 s) comes after the stopped rank's clock for rank 0's
  // silence (2 × 0.5 s) is overdue; rank 0 itself waits 30 s, so the collective completes.
  let warned: () => void = () => {};
  const warning = new Promise<void>((resolve) => (warned = resolve));
  const options = { timeoutSecs: 30, stallWarningSecs: 1.5, onWarning: () => warned() };
  const { rank0, frozen } = await frozenWorker(options);
  const call = rank0.allreduce(new Float64Array(ELEMENTS).fill(1));
  await warning;
  frozen.child.kill('SIGCONT');
  expect((await call)[0]).toBe(3);
  expect(await frozen.next('result')).toMatchObject({ value: 3 });
});

it('a rank stopped past the timeout learns on resuming that the group gave up waiting for it', async () => {
  const { rank0, frozen } = await frozenWorker({ timeoutSecs: 2, stallWarningSecs: 0 });
  const e0 = await errorOf(rank0.allreduce(new Float64Array(ELEMENTS).fill(1)));
  expect(e0.details).toMatchObject({ missing: [1] });
  frozen.child.kill('SIGCONT');
  const e1 = await frozen.next('error');
  expect(e1['code']).toBe('Timeout');
  expect(e1['details']).toMatchObject({ sequence: 0, missing: [1], timeoutSecs: FROZEN_TIMEOUT_SECS });
  expect(e1['message']).toMatch(/the tcp group gave up waiting for this rank \(rank 1\)/);
  expect(e1['message']).toMatch(/rank 1 sent \d+(\.\d)? (B|KiB|MiB) of 64\.0 MiB, then nothing/);
  expect(e1['message']).not.toMatch(/rank 0 \(the coordinator\) sent nothing/);
});

it('a rank stopped past the timeout whose rank 0 gave up and left is told the same', async () => {
  const { rank0, frozen } = await frozenWorker({ timeoutSecs: 2, stallWarningSecs: 0 });
  expect((await errorOf(rank0.allreduce(new Float64Array(ELEMENTS).fill(1)))).code).toBe('Timeout');
  // Rank 0's program leaves while rank 1 is stopped: its Timeout frame, queued behind result data
  // rank 1 never read, is lost with the connection.
  await rank0.close();
  frozen.child.kill('SIGCONT');
  const e1 = await frozen.next('error');
  expect(e1['code']).toBe('Timeout');
  expect(e1['details']).toMatchObject({ sequence: 0, missing: [1], timeoutSecs: FROZEN_TIMEOUT_SECS });
  expect(e1['message']).toMatch(/the tcp group gave up waiting for this rank \(rank 1\)/);
  expect(e1['message']).toMatch(/this process was not running for \d+\.\d s during it/);
  expect(e1['message']).not.toMatch(/sent nothing/);
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
