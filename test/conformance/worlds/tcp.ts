/**
 * The tcp and ws backends: every rank a separate process over 127.0.0.1. The ephemeral port is race-free:
 * rank 0 binds port 0 itself and reports the real port over IPC; only then are ranks 1…R-1 started
 * with it. The processes of one size serve every world of that size (RankGroup below).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CollectiveAlgorithm } from '../../../src/communicator/algorithms/policy.js';
import type { SerializedError } from '../../../src/communicator/errors.js';
import {
  WORLD_TIMEOUT_SECS,
  type RankOutcome,
  type World,
  type WorldFactory,
  type WorldOptions,
} from '../world.js';
import type { HostRequest } from './tcp-rank-host.js';

const HOST = fileURLToPath(new URL('./tcp-rank-host.ts', import.meta.url));
const CONNECT_TIMEOUT_SECS = 60;
/** After close (exit), a rank must answer (exit) on its own within this long (ms) before it is killed. */
const EXIT_GRACE_MS = 10_000;
/** Lower than the default so the conformance payloads walk the multi-chunk streaming path. */
const TEST_CHUNK_BYTES = 64 * 1024;

type HostReply =
  | { type: 'listening'; session: number; port: number }
  | { type: 'ready'; session: number }
  | { type: 'outcome'; session: number; id: number; outcome: RankOutcome }
  | { type: 'closed'; session: number }
  | { type: 'failed'; session: number; error: SerializedError };

class RankProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  #waiters: Array<(reply: HostReply) => boolean> = [];

  constructor(readonly rank: number) {
    this.child = fork(HOST, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.on('message', (reply: HostReply) => {
      this.#waiters = this.#waiters.filter((accept) => !accept(reply));
    });
  }

  send(request: HostRequest): void {
    if (this.child.connected) this.child.send(request);
  }

  /**
   * The next reply of `session` that `pick` accepts; rejects on that session's 'failed' or when the
   * process exits first.
   */
  next<T>(session: number, pick: (reply: HostReply) => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onExit = (): void =>
        reject(
          new Error(
            `rank ${this.rank} exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`,
          ),
        );
      this.child.once('exit', onExit);
      this.#waiters.push((reply) => {
        if (reply.session !== session) return false;
        if (reply.type === 'failed') {
          this.child.off('exit', onExit);
          reject(new Error(`rank ${this.rank}: ${reply.error.name}: ${reply.error.message}`));
          return true;
        }
        const value = pick(reply);
        if (value === undefined) return false;
        this.child.off('exit', onExit);
        resolve(value);
        return true;
      });
    });
  }
}

/** tcp: the algorithm every rank is forced to (ws has only the star). */
type Transport = { backend: 'tcp'; algorithm: CollectiveAlgorithm } | { backend: 'ws' };

/**
 * The rank processes of one transport and size: they serve the shared world of that size and every
 * fresh world a case asks for (a session each, as the mpi worlds do), so the suite forks R processes
 * once per size instead of once per fresh case. They exit when their last world closes.
 */
class RankGroup {
  readonly ranks: RankProcess[];
  nextSession = 0;
  worlds = 0;

  constructor(size: number) {
    this.ranks = Array.from({ length: size }, (_, rank) => new RankProcess(rank));
  }

  async end(): Promise<void> {
    for (const r of this.ranks) r.send({ type: 'exit' });
    await Promise.all(
      this.ranks.map(async (r) => {
        const timer = setTimeout(() => r.child.kill('SIGKILL'), EXIT_GRACE_MS);
        await r.exited;
        clearTimeout(timer);
      }),
    );
  }
}

const groups = new Map<string, RankGroup>();

async function startWorld(transport: Transport, size: number, options: WorldOptions = {}): Promise<World> {
  const { backend } = transport;
  const key = `${backend}/${'algorithm' in transport ? transport.algorithm : ''}/${size}`;
  let group = groups.get(key);
  if (group === undefined) {
    group = new RankGroup(size);
    groups.set(key, group);
  }
  const { ranks } = group;
  const session = group.nextSession++;
  group.worlds++;
  const base = {
    ...(transport.backend === 'tcp' ? { algorithm: transport.algorithm } : {}),
    size,
    host: '127.0.0.1',
    timeoutSecs: options.timeoutSecs ?? WORLD_TIMEOUT_SECS,
    connectTimeoutSecs: CONNECT_TIMEOUT_SECS,
    chunkBytes: TEST_CHUNK_BYTES,
  };
  const owner = group;
  /** Closes this world; the processes exit with the last world, or at once when this one is stuck. */
  const stop = async (): Promise<void> => {
    const closed = ranks.map((r) => r.next(session, (m) => (m.type === 'closed' ? true : undefined)));
    for (const r of ranks) r.send({ type: 'close', session });
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.allSettled(closed).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), EXIT_GRACE_MS))),
    ]);
    clearTimeout(timer);
    // A world that does not close in time may have left its processes unusable: no later world gets
    // them (they serve the worlds already open, and are killed after the grace when the last closes).
    if (!settled && groups.get(key) === owner) groups.delete(key);
    if (--owner.worlds === 0) {
      if (groups.get(key) === owner) groups.delete(key);
      await owner.end();
    }
  };
  try {
    const rank0 = ranks[0] as RankProcess;
    const listening = rank0.next(session, (m) => (m.type === 'listening' ? m.port : undefined));
    const ready = [rank0.next(session, (m) => (m.type === 'ready' ? true : undefined))];
    rank0.send({ type: 'start', session, backend, options: { ...base, rank: 0, port: 0 } });
    const port = await listening;
    for (let rank = 1; rank < size; rank++) {
      const r = ranks[rank] as RankProcess;
      ready.push(r.next(session, (m) => (m.type === 'ready' ? true : undefined)));
      r.send({ type: 'start', session, backend, options: { ...base, rank, port } });
    }
    await Promise.all(ready);
  } catch (error) {
    await stop();
    throw error;
  }
  let nextId = 0;
  return {
    size,
    async run(caseName) {
      const id = nextId++;
      const outcomes = ranks.map((r) =>
        r.next(session, (m) => (m.type === 'outcome' && m.id === id ? m.outcome : undefined)),
      );
      for (const r of ranks) r.send({ type: 'run', session, id, caseName });
      return Promise.all(outcomes);
    },
    close: stop,
  };
}

/** Every size at which a world starts with rank 0 alone, an even and an odd prime number of workers. */
const TCP_SIZES = [1, 2, 3, 4, 5, 8];

/** tcp with every collective on the star (rank 0's rounds; no peer links are opened). */
export const tcpWorlds: WorldFactory = {
  backend: 'tcp',
  // 3 and 5: odd sizes and a prime catch off-by-one and power-of-two assumptions (STYLE.md).
  sizes: TCP_SIZES,
  start: (size, options) => startWorld({ backend: 'tcp', algorithm: 'star' }, size, options),
  lifecycle: { env: { COLLECTIVE_TCP_ALGORITHM: 'star' } },
};

/**
 * tcp with every allreduce, allgatherv and broadcast on the direct path at every size (spec/backend-tcp.md
 * §13), over peer links between every two workers. Families: all but `derived`. Each one reaches what
 * `direct` changes: base, contract and repeated call the three collectives (agreement round, slices,
 * rank-order folds, calls in flight at once); rooted and rooted-error exchange their counts through
 * allgatherv and broadcast and their blocks over messages; split and dup exchange colours and keys through
 * allgatherv; message sends worker to worker over the peer links instead of through rank 0. `derived`
 * re-runs base cases on split and dup communicators, whose collectives run on their own group over
 * messages whatever the world's algorithm: the message family already covers that channel, and split
 * covers their creation. Size 1 is left out: one rank has no peers, and its world is not wrapped. The
 * lifecycle family runs at 3 (two workers, so one peer link) and 5.
 */
export const tcpDirectWorlds: WorldFactory = {
  backend: 'tcp-direct',
  sizes: TCP_SIZES.filter((size) => size > 1),
  families: ['base', 'contract', 'repeated', 'rooted', 'rooted-error', 'message', 'split'],
  start: (size, options) => startWorld({ backend: 'tcp', algorithm: 'direct' }, size, options),
  lifecycle: { backend: 'tcp', env: { COLLECTIVE_TCP_ALGORITHM: 'direct' }, sizes: [3, 5] },
};
/**
 * The same processes and star over WebSocket links (spec/backend-ws.md): rank 0 serves ws://127.0.0.1:port/.
 * Above its links ws runs the very star protocol the tcp factory tests at every size, so two sizes do
 * here: 2 (one link) and 5 (an odd prime: four links at once, a world no power-of-two code fits); a
 * world of one rank opens no link at all. test/backends/ws/ and test/browser/ test the links themselves.
 */
export const wsWorlds: WorldFactory = {
  backend: 'ws',
  sizes: [2, 5],
  start: (size, options) => startWorld({ backend: 'ws' }, size, options),
};
