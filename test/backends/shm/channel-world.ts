/**
 * The parent's side of channel-rank.ts: one worker thread per rank of one shm group, each driving
 * its pair channel on command. Like a launcher (`abortOnExit`), it can abort the group when a
 * thread dies; without it, the ranks see only what the group's words say (§5.7).
 */
import { Worker } from 'node:worker_threads';
import { createShmGroup, SHM_WORKER_DATA_KEY, type ShmGroup } from '../../../src/backends/shm/index.js';
import type { ChannelCommand, ChannelRankData, ChannelReply } from './channel-rank.js';
import { bootstrapFor } from './thread-world.js';

const CHANNEL_RANK = bootstrapFor(new URL('./channel-rank.ts', import.meta.url).href);

type Finished = Exclude<ChannelReply, { type: 'ready' } | { type: 'progress' }>;
type Command = ChannelCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

export interface ChannelWorldOptions {
  size: number;
  ringBytes?: number;
  timeoutSecs?: number;
  /** Abort the group when a thread exits with a non-zero code, as a launcher does. */
  abortOnExit?: boolean;
}

export class ChannelWorld {
  readonly group: ShmGroup;
  readonly workers: Worker[];
  readonly exits: Promise<number>[];
  readonly #waiting = new Map<number, { progress: () => void; done: (r: Finished) => void }>();
  #nextId = 0;

  private constructor(group: ShmGroup, workers: Worker[]) {
    this.group = group;
    this.workers = workers;
    this.exits = workers.map((w) => new Promise<number>((resolve) => w.once('exit', resolve)));
  }

  static async start(options: ChannelWorldOptions): Promise<ChannelWorld> {
    const group = createShmGroup(
      options.ringBytes === undefined
        ? { size: options.size }
        : { size: options.size, ringBytes: options.ringBytes },
    );
    const workers = Array.from({ length: options.size }, (_, rank) => {
      const workerData: ChannelRankData = {
        [SHM_WORKER_DATA_KEY]: { group: group.handle, rank },
        timeoutSecs: options.timeoutSecs ?? 30,
      };
      return new Worker(CHANNEL_RANK, { eval: true, workerData });
    });
    const world = new ChannelWorld(group, workers);
    await Promise.all(
      workers.map(
        (worker, rank) =>
          new Promise<void>((resolve, reject) => {
            worker.once('error', reject);
            worker.on('message', (reply: ChannelReply) => {
              if (reply.type === 'ready') return resolve();
              const waiter = world.#waiting.get(reply.id);
              if (reply.type === 'progress') return waiter?.progress();
              world.#waiting.delete(reply.id);
              waiter?.done(reply);
            });
            worker.once('exit', (code) => {
              if (options.abortOnExit && code !== 0)
                group.abort(rank, `rank ${rank}'s thread exited with code ${code}`);
            });
          }),
      ),
    );
    return world;
  }

  /** Sends `command` to `rank`: `progress` resolves at its first progress report, `done` with its outcome. */
  tell(rank: number, command: Command): { progress: Promise<void>; done: Promise<Finished> } {
    const id = this.#nextId++;
    let progress!: () => void;
    let done!: (r: Finished) => void;
    const step = {
      progress: new Promise<void>((resolve) => (progress = resolve)),
      done: new Promise<Finished>((resolve) => (done = resolve)),
    };
    this.#waiting.set(id, { progress, done });
    this.workers[rank]!.postMessage({ ...command, id });
    return step;
  }

  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
