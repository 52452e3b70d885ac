// worker.ts
import type { Communicator, TrainContext } from 'collective';

export default async function (comm: Communicator, ctx: TrainContext<{ steps: number }>) {
  const weights = new Float64Array(8);
  for (let step = 0; step < ctx.args.steps && !ctx.signal.aborted; step++) {
    const gradient = weights.map(() => comm.rank + step); // this worker's shard
    const sum = await comm.allreduce(gradient); // every worker gets the same sum
    for (const [i, g] of sum.entries()) weights[i] = (weights[i] ?? 0) - (0.01 * g) / comm.size;
    ctx.progress({ step });
  }
  return weights;
}
