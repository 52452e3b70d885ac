/**
 * One rank in a worker thread that does exactly what the parent tells it, one command at a time, and
 * reports each step (scripted-world.ts is the parent's side). Nothing else keeps the thread alive
 * once the parent says 'end' (the port is unref'd), so a test can see whether an idle communicator
 * holds its thread, and how the others see a thread that ends without close().
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SpinPolicy } from '../../../src/backends/shm/barrier.js';
import { connectShm, SHM_WORKER_DATA_KEY, type ShmGroupHandle } from '../../../src/backends/shm/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { serializeError } from '../../../src/communicator/errors.js';
import { init } from '../../../src/index.js';

export type Command =
  /** Join through connectShm with the world's options, or through the public init() (workerData). */
  | { do: 'connect'; via: 'connectShm' | 'init' }
  | { do: 'barrier' }
  | { do: 'allreduce'; value: number }
  | { do: 'close' }
  /** Blocks the thread (Atomics.wait on the world's freeze word) until the parent releases it. */
  | { do: 'freeze' }
  /** Loops 8-byte allreduces with a setInterval running, until every rank has seen it fire `ticks` times. */
  | { do: 'tick-loop'; ticks: number; maxCalls: number }
  /** `calls` 8-byte allreduces; before each, rank `busyRank` computes for `busyMs` (uneven work). */
  | { do: 'uneven-loop'; calls: number; busyRank: number; busyMs: number }
  /**
   * At least `calls` small collectives (allreduce, barrier, broadcast, allgatherv in turn), and
   * until rank 0 has looped `minMs`; throws on the first result that is not exact. Returns the calls.
   */
  | { do: 'exact-loop'; calls: number; minMs: number }
  /** Stops listening: the thread then ends once nothing else holds it. */
  | { do: 'end' }
  | { do: 'throw' }
  | { do: 'exit'; code: number };

export type Reply =
  | { id: number; type: 'started' }
  | {
      id: number;
      type: 'done';
      ok: boolean;
      value?: number;
      error?: ReturnType<typeof serializeError>;
      /** Stall warnings this thread emitted while the command ran. */
      warnings: string[];
    };

export interface ScriptedRankData {
  [SHM_WORKER_DATA_KEY]: { group: ShmGroupHandle; rank: number };
  timeoutSecs: number;
  stallWarningSecs?: number;
  spin?: SpinPolicy;
  /** Int32Array word 0: a frozen rank waits until it is non-zero. */
  freeze: SharedArrayBuffer;
}

const port = parentPort!;
const data = workerData as ScriptedRankData;
const { group, rank } = data[SHM_WORKER_DATA_KEY];
let comm: Communicator | undefined;
let warnings: string[] = [];
process.on('warning', (w) => {
  if (w.name === 'CollectiveWarning') warnings.push(w.message);
});

async function perform(command: Command): Promise<number | undefined> {
  switch (command.do) {
    case 'connect':
      comm =
        command.via === 'init'
          ? await init()
          : await connectShm({
              group,
              rank,
              timeoutSecs: data.timeoutSecs,
              ...(data.stallWarningSecs === undefined ? {} : { stallWarningSecs: data.stallWarningSecs }),
              ...(data.spin === undefined ? {} : { spin: data.spin }),
            });
      return undefined;
    case 'barrier':
      await comm!.barrier();
      return undefined;
    case 'allreduce':
      return (await comm!.allreduce(new Float64Array([command.value])))[0];
    case 'close':
      await comm!.close();
      return undefined;
    case 'freeze':
      Atomics.wait(new Int32Array(data.freeze), 0, 0);
      return undefined;
    case 'tick-loop':
      return tickLoop(comm!, command.ticks, command.maxCalls);
    case 'uneven-loop':
      return unevenLoop(comm!, command.calls, command.busyRank, command.busyMs);
    case 'exact-loop':
      return exactLoop(comm!, command.calls, command.minMs);
    case 'end':
      port.unref();
      return undefined;
    case 'throw':
      setImmediate(() => {
        throw new Error(`rank ${rank} throws`);
      });
      return undefined;
    case 'exit':
      process.exit(command.code);
  }
}

/** Returns the interval's count on this rank once every rank's reached `ticks`; throws at maxCalls. */
async function tickLoop(c: Communicator, ticks: number, maxCalls: number): Promise<number> {
  let fired = 0;
  const interval = setInterval(() => fired++, 10);
  const flag = new Float64Array(1);
  try {
    for (let calls = 0; calls < maxCalls; calls++) {
      flag[0] = fired >= ticks ? 1 : 0;
      const all = await c.allreduce(flag, 'min');
      if (all[0] === 1) return fired;
    }
    throw new Error(`setInterval(…, 10) fired ${fired} times in ${maxCalls} allreduces on rank ${rank}`);
  } finally {
    clearInterval(interval);
  }
}

/** How often a setInterval(…, 10) fired on this rank during the loop. */
async function unevenLoop(c: Communicator, calls: number, busyRank: number, busyMs: number): Promise<number> {
  let fired = 0;
  const interval = setInterval(() => fired++, 10);
  try {
    for (let call = 0; call < calls; call++) {
      if (rank === busyRank) {
        // Compute, not a wait: the thread is busy for busyMs, so its peer blocks in the barrier.
        const until = performance.now() + busyMs;
        while (performance.now() < until);
      }
      await c.allreduce(Float64Array.of(call));
    }
    return fired;
  } finally {
    clearInterval(interval);
  }
}

/** Small collectives whose every result is checked exactly (integers well inside float64). */
async function exactLoop(c: Communicator, calls: number, minMs: number): Promise<number> {
  const size = c.size;
  const start = performance.now();
  const more = new Float64Array(1);
  const gathered = new Float64Array(size);
  const layout = { counts: new Array<number>(size).fill(1), displs: [...Array(size).keys()], recv: gathered };
  let call = 0;
  for (;;) {
    const value = rank * 1000 + call;
    switch (call % 4) {
      case 0: {
        const sum = (await c.allreduce(Float64Array.of(value, -value)))!;
        // Σ_r (r·1000 + call) = 1000·size(size−1)/2 + size·call.
        const expected = (1000 * size * (size - 1)) / 2 + size * call;
        if (sum[0] !== expected || sum[1] !== -expected) {
          throw new Error(`call ${call}: allreduce gave ${sum[0]}, ${sum[1]}; expected ±${expected}`);
        }
        break;
      }
      case 1:
        await c.barrier();
        break;
      case 2: {
        const buf = Float64Array.of(rank === call % size ? value : -1);
        await c.broadcast(buf, call % size);
        const expected = (call % size) * 1000 + call;
        if (buf[0] !== expected)
          throw new Error(`call ${call}: broadcast gave ${buf[0]}, expected ${expected}`);
        break;
      }
      default: {
        await c.allgatherv(Float64Array.of(value), layout);
        for (let r = 0; r < size; r++) {
          if (gathered[r] !== r * 1000 + call) {
            throw new Error(
              `call ${call}: allgatherv block ${r} is ${gathered[r]}, expected ${r * 1000 + call}`,
            );
          }
        }
      }
    }
    call++;
    if (call >= calls) {
      // Every rank must stop after the same call: rank 0's clock decides, for all.
      more[0] = rank === 0 && performance.now() - start < minMs ? 1 : 0;
      await c.allreduce(more, 'max', more);
      if (more[0] === 0) return call;
    }
  }
}

port.on('message', (message: { id: number; command: Command }) => {
  const { id, command } = message;
  warnings = [];
  port.postMessage({ id, type: 'started' } satisfies Reply);
  perform(command).then(
    (value) =>
      port.postMessage({
        id,
        type: 'done',
        ok: true,
        ...(value === undefined ? {} : { value }),
        warnings,
      } satisfies Reply),
    (error: unknown) =>
      port.postMessage({
        id,
        type: 'done',
        ok: false,
        error: serializeError(error),
        warnings,
      } satisfies Reply),
  );
});
