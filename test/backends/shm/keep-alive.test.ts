/**
 * A worker thread whose only pending work is a collective waiting asynchronously (past
 * BLOCK_BUDGET_MS, on Atomics.waitAsync) must stay alive until the collective settles, and must exit
 * on its own once its communicator is closed (spec/backend-shm.md §3.3).
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { connectShm, createShmGroup, SHM_WORKER_DATA_KEY } from '../../../src/backends/shm/index.js';
import { BLOCK_BUDGET_MS } from '../../../src/backends/shm/barrier.js';
import type { LoneWaiterMode, LoneWaiterReply } from './lone-waiter.js';
import { bootstrapFor } from './thread-world.js';

const LONE_WAITER = new URL('./lone-waiter.ts', import.meta.url).href;
/** How late the main-thread rank arrives: well past the worker's synchronous budget. */
const LATE_ARRIVAL_MS = 4 * BLOCK_BUDGET_MS + 50;
/** A thread with nothing left to do exits within milliseconds; this only bounds a failing run. */
const EXIT_DEADLINE_MS = 5_000;
const TIMEOUT_SECS = 10;

type Event = LoneWaiterReply | { type: 'exit'; code: number };

/** Starts rank 1 in a lone-waiter thread; `events` records its replies and its exit, in order. */
function startLoneWaiter(mode: LoneWaiterMode) {
  const group = createShmGroup({ size: 2 });
  const worker = new Worker(bootstrapFor(LONE_WAITER), {
    eval: true,
    workerData: { [SHM_WORKER_DATA_KEY]: { group: group.handle, rank: 1 }, timeoutSecs: TIMEOUT_SECS, mode },
  });
  const events: Event[] = [];
  const listeners = new Set<() => void>();
  const record = (event: Event): void => {
    events.push(event);
    for (const listener of listeners) listener();
  };
  worker.on('message', (message: LoneWaiterReply) => record(message));
  worker.on('error', (error) => record({ type: 'failed', message: error.message }));
  worker.on('exit', (code) => record({ type: 'exit', code }));
  /** Resolves once an event of `type` (or the thread's exit) has been recorded. */
  const until = (type: Event['type']): Promise<void> =>
    new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no '${type}' within ${EXIT_DEADLINE_MS} ms; events: ${JSON.stringify(events)}`));
      }, EXIT_DEADLINE_MS);
      const check = (): void => {
        if (!events.some((e) => e.type === type || e.type === 'exit')) return;
        clearTimeout(deadline);
        listeners.delete(check);
        resolve();
      };
      listeners.add(check);
      check();
    });
  return { group, worker, events, until };
}

describe('shm: a worker thread waiting asynchronously stays alive', () => {
  it('a barrier whose peer arrives late resolves in a thread with nothing else alive, which then exits', async () => {
    const lone = startLoneWaiter('barrier');
    const main = await connectShm({ group: lone.group.handle, rank: 0, timeoutSecs: TIMEOUT_SECS });
    await lone.until('waiting');
    // The other rank is slow: it arrives after the worker's synchronous budget has long run out.
    await new Promise((resolve) => setTimeout(resolve, LATE_ARRIVAL_MS));
    await main.barrier();
    await lone.until('exit');
    await main.close();
    expect(lone.events).toEqual([
      { type: 'waiting' },
      { type: 'passed' },
      { type: 'closed', barrier: 'resolved' },
      { type: 'exit', code: 0 },
    ]);
  });

  it('close() with the barrier in flight rejects it, and the thread exits on its own', async () => {
    const lone = startLoneWaiter('close-in-flight');
    const main = await connectShm({ group: lone.group.handle, rank: 0, timeoutSecs: TIMEOUT_SECS });
    await lone.until('waiting');
    // The worker handles this message only after its synchronous budget: its barrier is then async.
    lone.worker.postMessage('close');
    await lone.until('exit');
    await main.close();
    expect(lone.events).toEqual([
      { type: 'waiting' },
      { type: 'closed', barrier: 'InvalidCommunicator' },
      { type: 'exit', code: 0 },
    ]);
  });
});
