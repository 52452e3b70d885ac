/**
 * The messages between train()'s parent and its workers (spec/train.md §4). They travel over a
 * worker thread's port or a child process's IPC channel, both with structured clone, so a result
 * or a progress event may hold typed arrays, Maps and Dates.
 */
import type { SerializedError } from '../communicator/errors.js';
import type { TableName } from '../selection/index.js';

/** The backend of a train() worker: a row of the backend table whose ranks are threads or processes. */
export type TrainBackend = TableName;

/** What a worker needs to know to start; a thread gets it in workerData, a process as its first message. */
export interface WorkerConfig {
  rank: number;
  size: number;
  backend: TrainBackend;
  moduleUrl: string;
  args: unknown;
  /** tcp: a secret of this run that every rank presents to rank 0, so no other local process can join. */
  token: string;
}

export type ParentMessage =
  | { kind: 'collective:start'; config: WorkerConfig }
  /** tcp: where rank 0 listens; sent to ranks 1..size-1 once rank 0 reported it. */
  | { kind: 'collective:coordinator'; host: string; port: number }
  /** The parent is stopping the run: ctx.signal aborts. */
  | { kind: 'collective:stop'; reason: string };

export type WorkerMessage =
  | { kind: 'collective:progress'; event: Record<string, unknown> }
  /** tcp rank 0: its coordinator is listening. */
  | { kind: 'collective:listening'; host: string; port: number }
  /** The worker's function returned; value is rank 0's result (undefined elsewhere). */
  | { kind: 'collective:result'; value: unknown }
  | { kind: 'collective:failed'; error: SerializedError };

/** The key of workerData that holds a thread's WorkerConfig. */
export const TRAIN_WORKER_DATA_KEY = '__collectiveTrain';

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (value === null || typeof value !== 'object') return false;
  const kind = (value as { kind?: unknown }).kind;
  return (
    kind === 'collective:progress' ||
    kind === 'collective:listening' ||
    kind === 'collective:result' ||
    kind === 'collective:failed'
  );
}

export function isParentMessage(value: unknown): value is ParentMessage {
  if (value === null || typeof value !== 'object') return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'collective:start' || kind === 'collective:coordinator' || kind === 'collective:stop';
}
