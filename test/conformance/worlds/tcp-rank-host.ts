/**
 * One rank of tcp or ws worlds, in its own process (forked by worlds/tcp.ts with tsx). The process
 * serves every world of its size and transport — the shared one and each fresh one a case asks for —
 * each a communicator of its own (a session), so the suite pays process start-up once per size.
 * Protocol over IPC:
 *   parent → { type: 'start', session, backend, options }   rank 0 answers { type: 'listening', session, port },
 *                                                            every rank { type: 'ready', session }
 *   parent → { type: 'run', session, id, caseName } → { type: 'outcome', session, id, outcome }
 *   parent → { type: 'close', session }             → { type: 'closed', session }
 *   parent → { type: 'exit' }                       → the process leaves IPC and exits on its own
 * Anything else the rank hits is reported as { type: 'failed', session, error }.
 */
import { connectTcp, type TcpOptions } from '../../../src/backends/tcp/index.js';
import { connectWs } from '../../../src/backends/ws/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { serializeError } from '../../../src/communicator/errors.js';
import { runCaseOnRank } from '../world.js';

export type HostRequest =
  | {
      type: 'start';
      session: number;
      /** The star over net.Socket links (tcp) or WebSocket links (ws: rank ≥ 1 dials ws://host:port/). */
      backend: 'tcp' | 'ws';
      options: Omit<TcpOptions, 'onListening' | 'onWarning' | 'server'>;
    }
  | { type: 'run'; session: number; id: number; caseName: string }
  | { type: 'close'; session: number }
  | { type: 'exit' };

const sessions = new Map<number, Communicator>();

function reply(message: unknown): void {
  process.send?.(message);
}

process.on('message', (request: HostRequest) => {
  const session = request.type === 'exit' ? -1 : request.session;
  void handle(request).catch((error: unknown) =>
    reply({ type: 'failed', session, error: serializeError(error) }),
  );
});

async function handle(request: HostRequest): Promise<void> {
  switch (request.type) {
    case 'start': {
      const { session } = request;
      const comm = await (request.backend === 'ws' ? connectWs : connectTcp)({
        ...request.options,
        onListening: ({ port }) => reply({ type: 'listening', session, port }),
      });
      sessions.set(session, comm);
      reply({ type: 'ready', session });
      return;
    }
    case 'run': {
      const comm = sessions.get(request.session);
      if (!comm) throw new Error(`run before start of session ${request.session}`);
      const outcome = await runCaseOnRank(comm, request.caseName);
      reply({ type: 'outcome', session: request.session, id: request.id, outcome });
      return;
    }
    case 'close': {
      const comm = sessions.get(request.session);
      sessions.delete(request.session);
      // A case may have broken its world on purpose (failure, timeout): closing it only releases it.
      await comm?.close().catch(() => {});
      reply({ type: 'closed', session: request.session });
      return;
    }
    case 'exit':
      // Leave the IPC channel so that nothing but our own handles could keep the process alive.
      process.disconnect();
      return;
  }
}
