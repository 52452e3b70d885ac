/**
 * The parent's side of scripted-rank.ts: one worker thread per rank of one shm group, each told one
 * command at a time. Unlike ThreadWorld, nothing here aborts the group when a thread exits: these
 * tests check what the ranks themselves see when a peer closes, ends or goes silent.
 */
import { Worker } from 'node:worker_threads';
import { createShmGroup, SHM_WORKER_DATA_KEY, type ShmGroup } from '../../../src/backends/shm/index.js';
import type { SpinPolicy } from '../../../src/backends/shm/barrier.js';
import type { Command, Reply, ScriptedRankData } from './scripted-rank.js';
import { bootstrapFor } from './thread-world.js';

const SCRIPTED_RANK = bootstrapFor(new URL('./scripted-rank.ts', import.meta.url).href);

export type Done = Extract<Reply, { type: 'done' }>;

export interface ScriptedWorldOptions {
  size: number;
  timeoutSecs: number;
  stallWarningSecs?: number;
  /** connectShm's spin policy: one for every rank, or one per rank. */
  spin?: SpinPolicy | SpinPolicy[];
  /** Environment of every thread (init() reads COLLECTIVE_* from it). */
  env?: Record<string, string>;
}

export interface Step {
  /** Resolves when the rank has received the command (it is about to run it). */
  readonly started: Promise<void>;
  readonly done: Promise<Done>;
}

export class ScriptedWorld {
  readonly group: ShmGroup;
  readonly workers: Worker[];
  /** Resolves with each thread's exit code. */
  readonly exits: Promise<number>[];
  readonly #freeze = new SharedArrayBuffer(4);
  readonly #waiting = new Map<number, { started: () => void; done: (d: Done) => void }>();
  #nextId = 0;

  constructor(options: ScriptedWorldOptions) {
    this.group = createShmGroup({ size: options.size });
    this.workers = Array.from({ length: options.size }, (_, rank) => {
      const workerData: ScriptedRankData = {
        [SHM_WORKER_DATA_KEY]: { group: this.group.handle, rank },
        timeoutSecs: options.timeoutSecs,
        freeze: this.#freeze,
        ...(options.stallWarningSecs === undefined ? {} : { stallWarningSecs: options.stallWarningSecs }),
        ...(options.spin === undefined
          ? {}
          : { spin: Array.isArray(options.spin) ? options.spin[rank]! : options.spin }),
      };
      const worker = new Worker(SCRIPTED_RANK, {
        eval: true,
        workerData,
        env: { ...process.env, ...options.env },
        stderr: true,
      });
      // Stall warnings print to the thread's stderr; the tests read them from the replies.
      worker.stderr.resume();
      worker.on('message', (reply: Reply) => {
        const waiter = this.#waiting.get(reply.id);
        if (reply.type === 'started') waiter?.started();
        else {
          this.#waiting.delete(reply.id);
          waiter?.done(reply);
        }
      });
      worker.on('error', () => {});
      return worker;
    });
    this.exits = this.workers.map((w) => new Promise<number>((resolve) => w.once('exit', resolve)));
  }

  /** Sends `command` to `rank`. */
  tell(rank: number, command: Command): Step {
    const id = this.#nextId++;
    let started!: () => void;
    let done!: (d: Done) => void;
    const step: Step = {
      started: new Promise<void>((resolve) => (started = resolve)),
      done: new Promise<Done>((resolve) => (done = resolve)),
    };
    this.#waiting.set(id, { started, done });
    this.workers[rank]!.postMessage({ id, command });
    return step;
  }

  /** Runs `command` on `rank` and waits for its outcome. */
  do(rank: number, command: Command): Promise<Done> {
    return this.tell(rank, command).done;
  }

  /** Every listed rank runs `command` at once. */
  all(ranks: number[], command: Command): Promise<Done[]> {
    return Promise.all(ranks.map((r) => this.do(r, command)));
  }

  /** Lets every frozen rank continue. */
  thaw(): void {
    const word = new Int32Array(this.#freeze);
    Atomics.store(word, 0, 1);
    Atomics.notify(word, 0);
  }

  async close(): Promise<void> {
    this.thaw();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The failure of a done step, for assertions; throws when the step succeeded. */
export function failureOf(done: Done): NonNullable<Done['error']> {
  if (done.ok || !done.error) throw new Error(`expected a failure, got ${JSON.stringify(done)}`);
  return done.error;
}
