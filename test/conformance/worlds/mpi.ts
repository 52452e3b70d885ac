/**
 * The mpi backend: every rank a process that mpirun started (Open MPI, --oversubscribe), talking to
 * this test process over a local control socket (mpi-rank-host.ts). One mpirun job per world size
 * serves that size's world and every fresh world a case asks for (each a new communicator of the same
 * job, as init() after close() makes one), so the suite pays mpirun's start-up once per size. The job
 * ends when its last world closes. Registered in factories.ts only where mpirun runs and the addon
 * loads; test/backends/mpi/without-mpi.test.ts covers the rest.
 */
import { createServer, type Server, type Socket } from 'node:net';
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
/** After the last world closes, mpirun must exit on its own within this long (ms) before it is killed. */
const EXIT_GRACE_MS = 15_000;
/** Lower than the default so the conformance payloads walk every allreduce path (§4.1, §4.2). */
const TEST_SMALL_BYTES = 4096;

type HostReply =
  | { type: 'ready'; session: number; rank: number }
  | { type: 'outcome'; session: number; id: number; outcome: RankOutcome }
  | { type: 'closed'; session: number }
  | { type: 'failed'; session: number; error: SerializedError };

class Job {
  readonly sockets: Socket[] = [];
  readonly #listeners = new Set<(reply: HostReply) => void>();
  readonly #connected: Promise<void>;
  readonly exited: Promise<number | null>;
  readonly #mpirun: ReturnType<typeof spawnMpirun>;
  #output = '';
  worlds = 0;
  nextSession = 0;

  constructor(
    readonly size: number,
    readonly server: Server,
    port: number,
  ) {
    let connected!: () => void;
    this.#connected = new Promise<void>((resolve) => (connected = resolve));
    server.on('connection', (socket) => {
      this.sockets.push(socket);
      if (this.sockets.length === size) connected();
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
          const reply = JSON.parse(buffered.slice(0, at)) as HostReply;
          buffered = buffered.slice(at + 1);
          for (const listener of this.#listeners) listener(reply);
        }
      });
      socket.on('error', () => {});
    });
    this.#mpirun = spawnMpirun(size, HOST, {
      COLLECTIVE_TEST_CONTROL: String(port),
      COLLECTIVE_TEST_SMALL_BYTES: String(TEST_SMALL_BYTES),
    });
    this.#mpirun.stdout?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.#mpirun.stderr?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.exited = new Promise((resolve) => this.#mpirun.once('exit', (code) => resolve(code)));
  }

  async connected(): Promise<void> {
    await Promise.race([
      this.#connected,
      this.exited.then((code) => Promise.reject(new Error(`mpirun exited (code ${code}):\n${this.#output}`))),
    ]);
  }

  broadcast(message: unknown): void {
    for (const socket of this.sockets) socket.write(`${JSON.stringify(message)}\n`);
  }

  /** Every rank's reply of one session that `pick` accepts; rejects on 'failed' or when mpirun exits first. */
  collect<T>(session: number, pick: (reply: HostReply) => T | undefined): Promise<T[]> {
    return new Promise<T[]>((resolve, reject) => {
      const got: T[] = [];
      const listener = (reply: HostReply): void => {
        if (reply.session !== session) return;
        if (reply.type === 'failed') {
          this.#listeners.delete(listener);
          reject(new Error(`an mpi rank failed: ${reply.error.name}: ${reply.error.message}`));
          return;
        }
        const value = pick(reply);
        if (value === undefined) return;
        got.push(value);
        if (got.length === this.size) {
          this.#listeners.delete(listener);
          resolve(got);
        }
      };
      this.#listeners.add(listener);
      void this.exited.then((code) => {
        if (!this.#listeners.delete(listener)) return;
        reject(new Error(`mpirun exited (code ${code}) first:\n${this.#output}`));
      });
    });
  }

  async end(): Promise<void> {
    this.broadcast({ type: 'exit' });
    const timer = setTimeout(() => killGroup(this.#mpirun), EXIT_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    this.server.close();
  }

  kill(): void {
    killGroup(this.#mpirun);
    this.server.close();
  }
}

const jobs = new Map<number, Promise<Job>>();

async function launch(size: number): Promise<Job> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const job = new Job(size, server, (server.address() as { port: number }).port);
  try {
    await job.connected();
  } catch (error) {
    job.kill();
    throw error;
  }
  return job;
}

async function startWorld(size: number, options: WorldOptions = {}): Promise<World> {
  let pending = jobs.get(size);
  if (pending === undefined) {
    pending = launch(size);
    jobs.set(size, pending);
    pending.catch(() => jobs.delete(size));
  }
  const job = await pending;
  const session = job.nextSession++;
  job.worlds++;
  const ready = job.collect(session, (r) => (r.type === 'ready' ? true : undefined));
  job.broadcast({ type: 'open', session, timeoutSecs: options.timeoutSecs ?? WORLD_TIMEOUT_SECS });
  await ready;
  let nextId = 0;
  return {
    size,
    async run(caseName) {
      const id = nextId++;
      const outcomes = job.collect(session, (r) =>
        r.type === 'outcome' && r.id === id ? r.outcome : undefined,
      );
      job.broadcast({ type: 'run', session, id, caseName });
      return outcomes;
    },
    async close() {
      const closed = job.collect(session, (r) => (r.type === 'closed' ? true : undefined));
      job.broadcast({ type: 'close', session });
      await closed.catch(() => {});
      if (--job.worlds === 0) {
        jobs.delete(size);
        await job.end();
      }
    },
  };
}

export const mpiWorlds: WorldFactory = {
  backend: 'mpi',
  sizes: [1, 2, 3, 4],
  start: (size, options) => startWorld(size, options),
};
