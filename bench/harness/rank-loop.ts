/**
 * The rank side of every backend runner: the same loop on every rank of a world, like the MPI baseline's
 * (bench/../shared/baselines/mpi_coll_bench.c): warm-up (by count, then by time), then per batch a barrier (untimed, so batches
 * start together) and `iterations` back-to-back operations. Each rank returns its µs per operation per
 * batch; the parent takes the max over ranks per batch (harness/stats.ts).
 */
import type { Communicator } from '../../src/communicator/communicator.js';
import type { Workload } from './workload.js';

type Buffer = Float64Array | Int32Array;

const US_PER_MS = 1000;

function filled(dtype: Workload['dtype'], count: number, value: number): Buffer {
  return dtype === 'int32' ? new Int32Array(count).fill(value) : new Float64Array(count).fill(value);
}

interface Step {
  run(): Promise<unknown>;
  /** Throws when the last result is wrong: a benchmark of wrong answers measures nothing. */
  check(): void;
}

function stepFor(comm: Communicator, w: Workload): Step {
  const elementBytes = w.dtype === 'int32' ? Int32Array.BYTES_PER_ELEMENT : Float64Array.BYTES_PER_ELEMENT;
  const count = Math.max(1, Math.floor(w.bytes / elementBytes));
  const { rank, size } = comm;
  const expectEqual = (what: string, actual: number | undefined, expected: number): void => {
    if (actual !== expected) {
      throw new Error(
        `${w.operation} ${w.bytes} B on rank ${rank}: ${what} is ${actual}, expected ${expected}`,
      );
    }
  };
  switch (w.operation) {
    case 'allreduce': {
      const send = filled(w.dtype, count, rank + 1);
      const recv = filled(w.dtype, count, 0);
      return {
        run: () => comm.allreduce(send, 'sum', recv),
        check: () => expectEqual('recv[last]', recv[count - 1], (size * (size + 1)) / 2),
      };
    }
    case 'allgatherv': {
      const send = filled(w.dtype, count, rank + 1);
      const recv = filled(w.dtype, count * size, 0);
      const counts = new Array<number>(size).fill(count);
      const displs = counts.map((c, r) => c * r);
      return {
        run: () => comm.allgatherv(send, { counts, displs, recv }),
        check: () => expectEqual('block of the last rank', recv[count * size - 1], size),
      };
    }
    case 'broadcast': {
      const buf = filled(w.dtype, count, rank === 0 ? 7 : 0);
      return {
        run: () => comm.broadcast(buf, 0),
        check: () => expectEqual('buf[last]', buf[count - 1], 7),
      };
    }
    case 'barrier':
      return { run: () => comm.barrier(), check: () => {} };
    case 'pingpong':
      return pingPong(comm, w, count, expectEqual);
    case 'alltoall': {
      // Block d of rank r's send is r·size + d: rank r's block s of the result is s·size + r.
      const send = filled(w.dtype, count * size, 0);
      for (let d = 0; d < size; d++) send.fill(rank * size + d, d * count, (d + 1) * count);
      const recv = filled(w.dtype, count * size, -1);
      return {
        run: () => comm.alltoall(send, recv),
        check: () => expectEqual('last block', recv[count * size - 1], (size - 1) * size + rank),
      };
    }
    case 'launch':
      throw new Error('launch is measured by the launch runner, not inside a world');
  }
}

/** The ping-pong message's tag (any: the world's point-to-point context carries nothing else here). */
const PINGPONG_TAG = 1;

/**
 * osu_latency's loop: rank 0 sends, rank 1 receives into its buffer and sends it back, rank 0 receives;
 * one operation is the round trip. Rank 1 echoes what it got, so rank 0's check sees its own value.
 */
function pingPong(
  comm: Communicator,
  w: Workload,
  count: number,
  expectEqual: (what: string, actual: number | undefined, expected: number) => void,
): Step {
  if (comm.size !== 2) throw new Error(`pingpong runs on 2 ranks, not ${comm.size}`);
  const PING = 7;
  const buf = filled(w.dtype, count, comm.rank === 0 ? PING : 0);
  const run =
    comm.rank === 0
      ? async () => {
          await comm.send(buf, 1, PINGPONG_TAG);
          await comm.recv(buf, 1, PINGPONG_TAG);
        }
      : async () => {
          await comm.recv(buf, 0, PINGPONG_TAG);
          await comm.send(buf, 0, PINGPONG_TAG);
        };
  return { run, check: () => expectEqual('buf[last]', buf[count - 1], PING) };
}

/** Rounds of the four collectives (small) per step of the world warm-up, between rank 0's go/stop broadcasts. */
const WARMUP_ROUND_OPERATIONS = 50;
const WARMUP_PROBE_ELEMENTS = 8;

/**
 * Exercises all four collectives on small buffers until rank 0 has seen `ms` pass (the JIT compiles
 * every path before anything is timed). Every rank must run the same number of
 * operations, so rank 0 decides after each round and broadcasts go (1) or stop (0).
 */
async function warmUpWorld(comm: Communicator, ms: number): Promise<void> {
  const started = performance.now();
  const probe = new Float64Array(WARMUP_PROBE_ELEMENTS).fill(1);
  const out = new Float64Array(WARMUP_PROBE_ELEMENTS);
  const gathered = new Float64Array(WARMUP_PROBE_ELEMENTS * comm.size);
  const counts = new Array<number>(comm.size).fill(WARMUP_PROBE_ELEMENTS);
  const displs = counts.map((c, r) => c * r);
  const go = new Int32Array(1);
  do {
    for (let i = 0; i < WARMUP_ROUND_OPERATIONS; i++) {
      await comm.barrier();
      await comm.allreduce(probe, 'sum', out);
      await comm.allgatherv(probe, { counts, displs, recv: gathered });
      await comm.broadcast(out, 0);
    }
    go[0] = comm.rank === 0 && performance.now() - started < ms ? 1 : 0;
    await comm.broadcast(go, 0);
  } while (go[0] === 1);
}

/**
 * Runs `w.iterations` more untimed operations at a time until rank 0 has spent `w.warmupMs` on the
 * workload (Workload.warmupMs); rank 0 broadcasts go (1) or stop (0) after each run so every rank
 * runs the same operations.
 */
async function warmUpWorkload(comm: Communicator, step: Step, w: Workload): Promise<void> {
  if (w.warmupMs <= 0) return;
  const started = performance.now();
  const go = new Int32Array(1);
  do {
    for (let i = 0; i < w.iterations; i++) await step.run();
    go[0] = comm.rank === 0 && performance.now() - started < w.warmupMs ? 1 : 0;
    await comm.broadcast(go, 0);
  } while (go[0] === 1);
}

/**
 * Warms the world up for `worldWarmupMs`, then runs the workloads in order on this rank;
 * result[i][b] = µs per operation of workload i in batch b.
 */
export async function measureOnRank(
  comm: Communicator,
  workloads: readonly Workload[],
  worldWarmupMs: number,
): Promise<number[][]> {
  await warmUpWorld(comm, worldWarmupMs);
  const timings: number[][] = [];
  for (const w of workloads) {
    const step = stepFor(comm, w);
    for (let i = 0; i < w.warmup; i++) await step.run();
    await warmUpWorkload(comm, step, w);
    step.check();
    const batches: number[] = [];
    for (let b = 0; b < w.batches; b++) {
      await comm.barrier();
      const started = performance.now();
      for (let i = 0; i < w.iterations; i++) await step.run();
      batches.push(((performance.now() - started) * US_PER_MS) / w.iterations);
    }
    step.check();
    timings.push(batches);
  }
  // Close only once every rank is done: a rank that closes while rank 0 still drains its last large
  // send would fail rank 0's collective (tcp), as a rank leaving a group does.
  await comm.barrier();
  return timings;
}
