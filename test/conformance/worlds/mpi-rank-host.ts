/**
 * One rank of an mpi job for the conformance suite, started by mpirun (worlds/mpi.ts). It connects to
 * the test's control server (COLLECTIVE_TEST_CONTROL=port on 127.0.0.1) and speaks JSON lines. One
 * job serves many worlds ("sessions"): each is a communicator of its own (connectMpi again, as
 * init() after close() does), so a case that needs a fresh world costs no new mpirun.
 *   test → { type: 'open', session, timeoutSecs } → host { type: 'ready', session, rank }
 *   test → { type: 'run', session, id, caseName } → host { type: 'outcome', session, id, outcome }
 *   test → { type: 'close', session }             → host { type: 'closed', session }
 *   test → { type: 'exit' }                       → the process ends (MPI_Finalize at exit)
 */
import { connect } from 'node:net';
import { connectMpi } from '../../../src/backends/mpi/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { serializeError } from '../../../src/communicator/errors.js';
import { runCaseOnRank } from '../world.js';

interface Request {
  type: 'open' | 'run' | 'close' | 'exit';
  session: number;
  timeoutSecs?: number;
  id?: number;
  caseName?: string;
}

const port = Number(process.env['COLLECTIVE_TEST_CONTROL']);
const smallBytes = Number(process.env['COLLECTIVE_TEST_SMALL_BYTES'] ?? 4096);
const sessions = new Map<number, Communicator>();
const socket = connect(port, '127.0.0.1');
const send = (message: unknown): void => void socket.write(`${JSON.stringify(message)}\n`);
// The test process is gone (it ended or was killed): so is this job. SIGKILL, not exit: MPI_Finalize at
// exit would wait for ranks that may be stuck; mpirun sees a rank die and ends the others.
let exiting = false;
socket.on('close', () => {
  if (!exiting) process.kill(process.pid, 'SIGKILL');
});
socket.on('error', () => {});

async function handle(request: Request): Promise<void> {
  const { session } = request;
  switch (request.type) {
    case 'open': {
      const comm = await connectMpi({
        timeoutSecs: request.timeoutSecs as number,
        smallBytes,
        stallWarningSecs: 0,
      });
      sessions.set(session, comm);
      send({ type: 'ready', session, rank: comm.rank });
      return;
    }
    case 'run': {
      const comm = sessions.get(session) as Communicator;
      send({
        type: 'outcome',
        session,
        id: request.id,
        outcome: await runCaseOnRank(comm, request.caseName as string),
      });
      return;
    }
    case 'close':
      await sessions.get(session)?.close();
      sessions.delete(session);
      send({ type: 'closed', session });
      return;
    case 'exit':
      exiting = true;
      socket.end();
      return;
  }
}

let buffered = '';
socket.on('data', (chunk: Buffer) => {
  buffered += chunk.toString();
  for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
    const request = JSON.parse(buffered.slice(0, at)) as Request;
    buffered = buffered.slice(at + 1);
    void handle(request).catch((error: unknown) =>
      send({ type: 'failed', session: request.session, error: serializeError(error) }),
    );
  }
});
