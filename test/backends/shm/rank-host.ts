/**
 * One rank of a shm test world, in its own worker thread: joins the group from workerData, then
 * runs the conformance cases (or a named scenario) the parent asks for over postMessage.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectShm, SHM_WORKER_DATA_KEY, type ShmGroupHandle } from '../../../src/backends/shm/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { serializeError } from '../../../src/communicator/errors.js';
import { runCaseOnRank } from '../../conformance/world.js';
import { SCENARIOS } from './scenarios.js';

export type HostRequest =
  { type: 'run'; id: number; caseName: string } | { type: 'scenario'; id: number; name: string };
export type HostReply =
  | { type: 'ready' }
  | { type: 'join-failed'; error: ReturnType<typeof serializeError> }
  | { type: 'done'; id: number; outcome: Awaited<ReturnType<typeof runCaseOnRank>> };

interface HostData {
  [SHM_WORKER_DATA_KEY]: { group: ShmGroupHandle; rank: number };
  timeoutSecs: number;
}

const port = parentPort!;
const data = workerData as HostData;
const { group, rank } = data[SHM_WORKER_DATA_KEY];

let comm: Communicator;
try {
  comm = await connectShm({ group, rank, timeoutSecs: data.timeoutSecs });
  port.postMessage({ type: 'ready' } satisfies HostReply);
} catch (error) {
  port.postMessage({ type: 'join-failed', error: serializeError(error) } satisfies HostReply);
  process.exit(1);
}

port.on('message', (request: HostRequest) => {
  void (async () => {
    if (request.type === 'run') {
      const outcome = await runCaseOnRank(comm, request.caseName);
      port.postMessage({ type: 'done', id: request.id, outcome } satisfies HostReply);
      return;
    }
    const scenario = SCENARIOS[request.name];
    try {
      if (!scenario) throw new Error(`no scenario named '${request.name}'`);
      await scenario(comm);
      port.postMessage({ type: 'done', id: request.id, outcome: { rank, ok: true } } satisfies HostReply);
    } catch (error) {
      port.postMessage({
        type: 'done',
        id: request.id,
        outcome: { rank, ok: false, error: serializeError(error) },
      } satisfies HostReply);
    }
  })();
});
