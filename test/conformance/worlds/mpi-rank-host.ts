/**
 * One rank of an mpi world, started by mpirun (worlds/mpi.ts). It connects to the test's control
 * server (COLLECTIVE_TEST_CONTROL=port on 127.0.0.1) and speaks JSON lines:
 *   host → { type: 'ready', rank }
 *   test → { type: 'run', id, caseName } → host { type: 'outcome', id, outcome }
 *   test → { type: 'close' }             → host { type: 'closed' }, then the process exits
 */
import { connect } from 'node:net';
import { connectMpi } from '../../../src/backends/mpi/index.js';
import { serializeError } from '../../../src/communicator/errors.js';
import { runCaseOnRank } from '../world.js';

const port = Number(process.env['COLLECTIVE_TEST_CONTROL']);
const timeoutSecs = Number(process.env['COLLECTIVE_TIMEOUT_SECS'] ?? 30);
const smallBytes = Number(process.env['COLLECTIVE_TEST_SMALL_BYTES'] ?? 4096);
const socket = connect(port, '127.0.0.1');
// The test process is gone (it ended or was killed): so is this job. SIGKILL, not exit: MPI_Finalize at
// exit would wait for ranks that may be stuck; mpirun sees a rank die and ends the others.
let closing = false;
socket.on('close', () => {
  if (!closing) process.kill(process.pid, 'SIGKILL');
});
socket.on('error', () => {});
const send = (message: unknown): void => void socket.write(`${JSON.stringify(message)}\n`);

try {
  const comm = await connectMpi({ timeoutSecs, smallBytes, stallWarningSecs: 0 });
  send({ type: 'ready', rank: comm.rank });
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
      const request = JSON.parse(buffered.slice(0, at)) as { type: string; id?: number; caseName?: string };
      buffered = buffered.slice(at + 1);
      if (request.type === 'run') {
        void runCaseOnRank(comm, request.caseName as string).then((outcome) =>
          send({ type: 'outcome', id: request.id, outcome }),
        );
      } else if (request.type === 'close') {
        closing = true;
        void comm.close().then(() => {
          send({ type: 'closed' });
          socket.end();
        });
      }
    }
  });
} catch (error) {
  send({ type: 'failed', error: serializeError(error) });
  socket.end();
}
