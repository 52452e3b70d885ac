/**
 * What every train() worker runs, in a worker thread (shm) or a child process (tcp): receive the
 * config, open the communicator, call the module's default export, report the result or the error,
 * and exit. A process worker also exits as soon as its parent is gone (the IPC channel closes), so a
 * SIGKILLed parent leaves no orphans; threads end with their process anyway.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../communicator/errors.js';
import { makeStdioBlocking } from './blocking-stdio.js';
import { exitWithLauncher } from './process-group.js';
import { openCommunicator } from './worker-communicator.js';
import { loadWorkerFunction } from './worker-function.js';
import type { TrainContext } from './train-options.js';
import {
  TRAIN_WORKER_DATA_KEY,
  isParentMessage,
  type ParentMessage,
  type WorkerConfig,
  type WorkerMessage,
} from './worker-messages.js';

/** Exit codes of a worker: its function returned or threw (a vanished parent: EXIT_LAUNCHER_GONE). */
const EXIT_OK = 0;
const EXIT_FAILED = 1;

interface ParentChannel {
  /**
   * Throws at once when the message cannot be cloned; resolves once it is handed to the channel (a
   * process must not exit before that).
   */
  send(message: WorkerMessage): Promise<void>;
  onMessage(listener: (message: ParentMessage) => void): void;
}

function threadChannel(): ParentChannel {
  const port = parentPort!;
  return {
    send: (message) => {
      port.postMessage(message);
      return Promise.resolve();
    },
    onMessage: (listener) => port.on('message', (m: unknown) => isParentMessage(m) && listener(m)),
  };
}

function processChannel(): ParentChannel {
  // The worker ends with process.exit(): without this, output still queued for a pipe would be lost.
  makeStdioBlocking();
  exitWithLauncher();
  return {
    send: (message) => {
      if (!process.connected) return Promise.resolve();
      let settle: (error: Error | null) => void = () => {};
      const sent = new Promise<void>((resolve, reject) => {
        settle = (error) => (error ? reject(error) : resolve());
      });
      process.send!(message, undefined, {}, settle);
      return sent;
    },
    onMessage: (listener) => process.on('message', (m: unknown) => isParentMessage(m) && listener(m)),
  };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function runWorker(): Promise<never> {
  const channel = isMainThread ? processChannel() : threadChannel();
  const stop = new AbortController();
  const coordinator = deferred<{ host: string; port: number }>();
  const started = deferred<WorkerConfig>();
  channel.onMessage((message) => {
    if (message.kind === 'collective:start') started.resolve(message.config);
    else if (message.kind === 'collective:coordinator')
      coordinator.resolve({ host: message.host, port: message.port });
    else if (message.kind === 'collective:stop') stop.abort(new Error(message.reason));
  });
  const data = (workerData ?? {}) as Record<string, unknown>;
  if (!isMainThread) started.resolve(data[TRAIN_WORKER_DATA_KEY] as WorkerConfig);
  const config = await started.promise;

  const finish = async (message: WorkerMessage, code: number): Promise<never> => {
    try {
      await channel.send(message);
    } catch (error) {
      // The result could not be cloned (a function, a socket…): report that instead.
      await channel.send({ kind: 'collective:failed', error: serializeError(error) }).catch(() => {});
      code = EXIT_FAILED;
    }
    process.exit(code);
  };
  const fail = (error: unknown): Promise<never> =>
    finish({ kind: 'collective:failed', error: serializeError(error) }, EXIT_FAILED);
  process.on('uncaughtException', (error) => void fail(error));
  process.on('unhandledRejection', (error) => void fail(error));

  try {
    const fn = await loadWorkerFunction(new URL(config.moduleUrl));
    // A shm thread joins the group of its workerData (__collectiveShm), as a collective run rank does.
    const comm = await openCommunicator(config, { coordinator: () => coordinator.promise });
    const ctx: TrainContext = {
      args: config.args,
      signal: stop.signal,
      // Throws to the caller when the event cannot be cloned; a closed channel is the parent's business.
      progress: (event) =>
        void channel.send({ kind: 'collective:progress', event: { ...event } }).catch(() => {}),
    };
    // On a throw the communicator is not closed: the error is reported first and the worker exits,
    // which ends its part of the group anyway. Closing first would tell the peers, whose reports of
    // this rank's departure could then reach the parent before this rank's own error.
    const result = await fn(comm, ctx);
    await comm.close();
    return await finish(
      { kind: 'collective:result', value: config.rank === 0 ? result : undefined },
      EXIT_OK,
    );
  } catch (error) {
    return await fail(error);
  }
}

await runWorker();
