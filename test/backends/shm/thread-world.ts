/**
 * A group of worker threads, one per rank, each joined to one shm group (rank-host.ts). Used by the
 * conformance world factory and by the shm tests. A thread that exits aborts the group, as a
 * launcher would, so the other ranks fail fast instead of waiting.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createShmGroup, SHM_WORKER_DATA_KEY, type ShmGroup } from '../../../src/backends/shm/index.js';
import type { RankOutcome } from '../../conformance/world.js';
import type { HostReply, HostRequest } from './rank-host.js';

const HOST = new URL('./rank-host.ts', import.meta.url).href;
/**
 * Node 20 does not apply `--import tsx` from a worker's execArgv to the worker's entry module, so
 * the entry is a one-line bootstrap that registers tsx's loader and then imports the TypeScript host.
 */
const TSX_API = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve('tsx/esm/api')), 'index.mjs'),
).href;
/** A worker entry (eval: true) that runs the TypeScript module at `url`. */
export function bootstrapFor(url: string): string {
  return `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`;
}
const BOOTSTRAP = bootstrapFor(HOST);

export interface ThreadWorldOptions {
  size: number;
  timeoutSecs: number;
  dataBytes?: number;
}

export class ThreadWorld {
  readonly group: ShmGroup;
  readonly workers: Worker[];
  readonly #pending = new Map<number, Map<number, (o: RankOutcome) => void>>();
  #nextId = 0;
  #closing = false;

  private constructor(group: ShmGroup, workers: Worker[]) {
    this.group = group;
    this.workers = workers;
  }

  get size(): number {
    return this.workers.length;
  }

  static async start(options: ThreadWorldOptions): Promise<ThreadWorld> {
    const group = createShmGroup(
      options.dataBytes === undefined
        ? { size: options.size }
        : { size: options.size, dataBytes: options.dataBytes },
    );
    const workers = Array.from(
      { length: options.size },
      (_, rank) =>
        new Worker(BOOTSTRAP, {
          eval: true,
          workerData: {
            [SHM_WORKER_DATA_KEY]: { group: group.handle, rank },
            timeoutSecs: options.timeoutSecs,
          },
        }),
    );
    const world = new ThreadWorld(group, workers);
    const ready = workers.map(
      (worker, rank) =>
        new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('exit', (code) =>
            reject(new Error(`rank ${rank} exited with code ${code} before joining`)),
          );
          worker.on('message', (reply: HostReply) => {
            if (reply.type === 'ready') resolve();
            else if (reply.type === 'join-failed') reject(new Error(`rank ${rank}: ${reply.error.message}`));
            else world.#settle(rank, reply.id, reply.outcome);
          });
        }),
    );
    try {
      await Promise.all(ready);
    } catch (error) {
      await world.close();
      throw error;
    }
    workers.forEach((worker, rank) => {
      worker.removeAllListeners('error').removeAllListeners('exit');
      worker.on('error', (error) => world.#died(rank, `threw ${error.message}`));
      worker.on('exit', (code) => world.#died(rank, `exited with code ${code}`));
    });
    return world;
  }

  /** Runs a conformance case on every rank at once. */
  run(caseName: string): Promise<RankOutcome[]> {
    return this.#request((id) => ({ type: 'run', id, caseName }));
  }

  /** Runs a named scenario (scenarios.ts) on every rank, or on the given ranks only. */
  scenario(name: string, ranks?: number[]): Promise<RankOutcome[]> {
    return this.#request((id) => ({ type: 'scenario', id, name }), ranks);
  }

  #request(make: (id: number) => HostRequest, ranks?: number[]): Promise<RankOutcome[]> {
    const id = this.#nextId++;
    const waiting = new Map<number, (o: RankOutcome) => void>();
    this.#pending.set(id, waiting);
    const targets = ranks ?? this.workers.map((_, r) => r);
    return Promise.all(
      targets.map(
        (rank) =>
          new Promise<RankOutcome>((resolve) => {
            waiting.set(rank, resolve);
            this.workers[rank]!.postMessage(make(id));
          }),
      ),
    ).finally(() => this.#pending.delete(id));
  }

  #settle(rank: number, id: number, outcome: RankOutcome): void {
    const resolve = this.#pending.get(id)?.get(rank);
    this.#pending.get(id)?.delete(rank);
    resolve?.(outcome);
  }

  #died(rank: number, how: string): void {
    if (this.#closing) return;
    this.group.abort(rank, `rank ${rank}'s thread ${how}`);
    for (const [id] of this.#pending) {
      this.#settle(rank, id, { rank, ok: false, error: { name: 'Error', message: `thread ${how}` } });
    }
  }

  /** Wakes every blocked rank (abort), then terminates every thread. */
  async close(): Promise<void> {
    this.#closing = true;
    this.group.abort(-1, 'the test world is closing');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
