/**
 * The mpi backend: every rank a process that mpirun started (Open MPI, --oversubscribe), talking to
 * this test process over a local control socket (mpi-rank-host.ts). Registered in factories.ts only
 * where mpirun runs and the addon loads; test/backends/mpi/without-mpi.test.ts covers the rest.
 */
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { SerializedError } from '../../../src/communicator/errors.js';
import { killGroup, spawnMpirun } from '../../support/mpirun.js';
import {
  WORLD_TIMEOUT_SECS,
  type RankOutcome,
  type World,
  type WorldFactory,
  type WorldOptions,
} from '../world.js';

const HOST = fileURLToPath(new URL('./mpi-rank-host.ts', import.meta.url));
/** After close, mpirun must exit on its own within this long (ms) before it is killed. */
const EXIT_GRACE_MS = 15_000;
/** Lower than the default so the conformance payloads walk both allreduce paths (§4.1, §4.2). */
const TEST_SMALL_BYTES = 4096;

type HostReply =
  | { type: 'ready'; rank: number }
  | { type: 'outcome'; id: number; outcome: RankOutcome }
  | { type: 'closed' }
  | { type: 'failed'; error: SerializedError };

async function startWorld(size: number, options: WorldOptions = {}): Promise<World> {
  const ranks = new Map<number, Socket>();
  const listeners = new Set<(reply: HostReply) => void>();
  let output = '';
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
        const reply = JSON.parse(buffered.slice(0, at)) as HostReply;
        buffered = buffered.slice(at + 1);
        if (reply.type === 'ready') ranks.set(reply.rank, socket);
        for (const listener of listeners) listener(reply);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const mpirun = spawnMpirun(size, HOST, {
    COLLECTIVE_TEST_CONTROL: String(port),
    COLLECTIVE_TIMEOUT_SECS: String(options.timeoutSecs ?? WORLD_TIMEOUT_SECS),
    COLLECTIVE_TEST_SMALL_BYTES: String(TEST_SMALL_BYTES),
  });
  mpirun.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  mpirun.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => mpirun.once('exit', (code) => resolve(code)));
  const until = <T>(pick: (reply: HostReply) => T | undefined): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const listener = (reply: HostReply): void => {
        if (reply.type === 'failed') {
          listeners.delete(listener);
          reject(new Error(`an mpi rank failed: ${reply.error.name}: ${reply.error.message}`));
          return;
        }
        const value = pick(reply);
        if (value === undefined) return;
        listeners.delete(listener);
        resolve(value);
      };
      listeners.add(listener);
      void exited.then((code) => {
        if (!listeners.has(listener)) return;
        listeners.delete(listener);
        reject(new Error(`mpirun exited (code ${code}) first:\n${output}`));
      });
    });
  const stop = async (): Promise<void> => {
    const closed = Promise.all(
      [...ranks.values()].map(() => until((r) => (r.type === 'closed' ? true : undefined))),
    );
    for (const socket of ranks.values()) socket.write(`${JSON.stringify({ type: 'close' })}\n`);
    const timer = setTimeout(() => killGroup(mpirun), EXIT_GRACE_MS);
    await closed.catch(() => {});
    await exited;
    clearTimeout(timer);
    server.close();
  };
  let ready = 0;
  try {
    await until((r) => (r.type === 'ready' && ++ready === size ? true : undefined));
  } catch (error) {
    killGroup(mpirun);
    server.close();
    throw error;
  }
  let nextId = 0;
  return {
    size,
    async run(caseName) {
      const id = nextId++;
      let count = 0;
      const outcomes: RankOutcome[] = [];
      const done = until((r) => {
        if (r.type !== 'outcome' || r.id !== id) return undefined;
        outcomes.push(r.outcome);
        return ++count === size ? outcomes : undefined;
      });
      for (const socket of ranks.values()) socket.write(`${JSON.stringify({ type: 'run', id, caseName })}\n`);
      return done;
    },
    close: stop,
  };
}

export const mpiWorlds: WorldFactory = {
  backend: 'mpi',
  sizes: [1, 2, 3, 4],
  start: (size, options) => startWorld(size, options),
};
