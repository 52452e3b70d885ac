/**
 * One worker of the demo: data-parallel logistic regression. Each worker computes the gradient of its
 * shard's mini-batch, allreduce sums the gradients of all workers (in rank order, so the sum is the
 * same on every backend), and every worker applies the same update to its copy of the model.
 */
import type { Communicator } from '../src/index.js';
import type { TrainContext } from '../src/launch/train.js';
import { generateDataset, shardOf, type DatasetSpec } from './dataset.js';

export interface DemoArgs extends DatasetSpec {
  epochs: number;
  /** Samples per worker per step. */
  batch: number;
  learningRate: number;
}

export interface DemoResult {
  weights: Float64Array;
  loss: number;
  accuracy: number;
  backend: string;
  workers: number;
}

/** Keeps log() finite when a prediction is exactly 0 or 1. */
const LOG_EPSILON = 1e-12;

export default async function trainLogistic(
  comm: Communicator,
  ctx: TrainContext<DemoArgs>,
): Promise<DemoResult> {
  const { features, samples, epochs, batch, learningRate } = ctx.args;
  const { x, y } = generateDataset(ctx.args);
  const { start, end } = shardOf(samples, comm.rank, comm.size);
  // Weights then bias; every worker holds an identical copy.
  const weights = new Float64Array(features + 1);
  // Gradient (features + 1), then the summed loss, the number of correct predictions and of samples.
  const LOSS = features + 1;
  const CORRECT = features + 2;
  const COUNT = features + 3;
  const local = new Float64Array(features + 4);
  // The same number of steps on every worker (a collective per step), even when shards differ in size.
  const steps = Math.ceil(shardOf(samples, 0, comm.size).end / batch);
  let loss = 0;
  let accuracy = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    let epochLoss = 0;
    let epochCorrect = 0;
    for (let step = 0; step < steps; step++) {
      local.fill(0);
      const from = start + step * batch;
      const to = Math.min(end, from + batch);
      for (let i = from; i < to; i++) {
        let z = weights[features] as number;
        for (let j = 0; j < features; j++) z += (weights[j] as number) * (x[i * features + j] as number);
        const p = 1 / (1 + Math.exp(-z));
        const label = y[i] as number;
        const error = p - label;
        for (let j = 0; j < features; j++)
          local[j] = (local[j] as number) + error * (x[i * features + j] as number);
        local[features] = (local[features] as number) + error;
        local[LOSS] =
          (local[LOSS] as number) - (label ? Math.log(p + LOG_EPSILON) : Math.log(1 - p + LOG_EPSILON));
        if ((p >= 0.5 ? 1 : 0) === label) local[CORRECT] = (local[CORRECT] as number) + 1;
        local[COUNT] = (local[COUNT] as number) + 1;
      }
      // Every worker's batch in one allreduce: the gradient sum and the counts travel together.
      const total = await comm.allreduce(local);
      const seen = total[COUNT] as number;
      if (seen === 0) continue;
      for (let j = 0; j <= features; j++) {
        weights[j] = (weights[j] as number) - (learningRate * (total[j] as number)) / seen;
      }
      epochLoss += total[LOSS] as number;
      epochCorrect += total[CORRECT] as number;
    }
    loss = epochLoss / samples;
    accuracy = epochCorrect / samples;
    if (comm.rank === 0) ctx.progress({ epoch, epochs, loss, accuracy });
  }
  return { weights, loss, accuracy, backend: comm.backend, workers: comm.size };
}
