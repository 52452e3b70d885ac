/**
 * One rank of a tcp or ws world, in its own process (forked by worlds/tcp.ts with tsx). Protocol over IPC:
 *   parent → { type: 'start', backend, options }   rank 0 answers { type: 'listening', port }, every rank { type: 'ready' }
 *   parent → { type: 'run', id, caseName } → { type: 'outcome', id, outcome }
 *   parent → { type: 'close' }             → { type: 'closed' }, then the process exits on its own
 * Anything else the rank hits is reported as { type: 'failed', error }.
 */
import { connectTcp, type TcpOptions } from '../../../src/backends/tcp/index.js';
import { connectWs } from '../../../src/backends/ws/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { serializeError } from '../../../src/communicator/errors.js';
import { runCaseOnRank } from '../world.js';

export type HostRequest =
  | {
      type: 'start';
      /** The star over net.Socket links (tcp) or WebSocket links (ws: rank ≥ 1 dials ws://host:port/). */
      backend: 'tcp' | 'ws';
      options: Omit<TcpOptions, 'onListening' | 'onWarning' | 'server'>;
    }
  | { type: 'run'; id: number; caseName: string }
  | { type: 'close' };

let comm: Communicator | null = null;

function reply(message: unknown): void {
  process.send?.(message);
}

process.on('message', (request: HostRequest) => {
  void handle(request).catch((error: unknown) => reply({ type: 'failed', error: serializeError(error) }));
});

async function handle(request: HostRequest): Promise<void> {
  switch (request.type) {
    case 'start':
      comm = await (request.backend === 'ws' ? connectWs : connectTcp)({
        ...request.options,
        onListening: ({ port }) => reply({ type: 'listening', port }),
      });
      reply({ type: 'ready' });
      return;
    case 'run': {
      if (!comm) throw new Error('run before start');
      reply({ type: 'outcome', id: request.id, outcome: await runCaseOnRank(comm, request.caseName) });
      return;
    }
    case 'close':
      await comm?.close();
      reply({ type: 'closed' });
      // Leave the IPC channel so that nothing but our own handles could keep the process alive.
      process.disconnect();
      return;
  }
}
