/**
 * One rank in a worker thread with nothing else keeping its event loop alive while its collective
 * waits: no message listener, no timer of its own. Reports each step to the parent; the thread must
 * then exit on its own.
 *   'barrier': awaits a barrier the parent arrives at late, then closes.
 *   'close-in-flight': starts a barrier nobody else joins; on the parent's message, closes with it in flight.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectShm, SHM_WORKER_DATA_KEY, type ShmGroupHandle } from '../../../src/backends/shm/index.js';
import { CommError } from '../../../src/communicator/errors.js';

export type LoneWaiterMode = 'barrier' | 'close-in-flight';
export type LoneWaiterReply =
  | { type: 'waiting' }
  | { type: 'passed' }
  | { type: 'closed'; barrier: string }
  | { type: 'failed'; message: string };

interface LoneWaiterData {
  [SHM_WORKER_DATA_KEY]: { group: ShmGroupHandle; rank: number };
  timeoutSecs: number;
  mode: LoneWaiterMode;
}

const port = parentPort!;
const data = workerData as LoneWaiterData;
const { group, rank } = data[SHM_WORKER_DATA_KEY];
const reply = (message: LoneWaiterReply): void => port.postMessage(message);

try {
  const comm = await connectShm({ group, rank, timeoutSecs: data.timeoutSecs });
  if (data.mode === 'barrier') {
    reply({ type: 'waiting' });
    await comm.barrier();
    reply({ type: 'passed' });
    await comm.close();
    reply({ type: 'closed', barrier: 'resolved' });
  } else {
    const outcome = comm.barrier().then(
      () => 'resolved',
      (error: unknown) => (error instanceof CommError ? error.code : String(error)),
    );
    port.once('message', () => {
      void comm.close().then(async () => reply({ type: 'closed', barrier: await outcome }));
    });
    reply({ type: 'waiting' });
  }
} catch (error) {
  reply({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
}
