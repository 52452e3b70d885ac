/**
 * The demo's synthetic data set: points in `features` dimensions labelled by a hidden linear model with
 * label noise. Everything comes from one seed through a fixed sequence of draws, so every worker, every
 * backend and every run sees the same numbers to the last bit.
 */

export interface DatasetSpec {
  seed: number;
  samples: number;
  features: number;
}

export interface Dataset {
  /** Row-major, samples × features. */
  x: Float64Array;
  /** 0 or 1 per sample. */
  y: Uint8Array;
}

const UINT32_RANGE = 2 ** 32;
/** The hidden model's weights are drawn from [-WEIGHT_SCALE, WEIGHT_SCALE]. */
const WEIGHT_SCALE = 2;

/** mulberry32: a tiny, well-mixed 32-bit generator; integer arithmetic only, so it is exact everywhere. */
function uniforms(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / UINT32_RANGE;
  };
}

export function generateDataset(spec: DatasetSpec): Dataset {
  const next = uniforms(spec.seed);
  const hidden = Array.from({ length: spec.features + 1 }, () => (next() * 2 - 1) * WEIGHT_SCALE);
  const x = new Float64Array(spec.samples * spec.features);
  const y = new Uint8Array(spec.samples);
  for (let i = 0; i < spec.samples; i++) {
    let z = hidden[spec.features] as number;
    for (let j = 0; j < spec.features; j++) {
      const value = next() * 2 - 1;
      x[i * spec.features + j] = value;
      z += (hidden[j] as number) * value;
    }
    // Labels drawn from the hidden model's probability: the best possible accuracy is below 100 %.
    y[i] = next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { x, y };
}

/** The rows [start, end) of the data set that worker `rank` of `size` trains on. */
export function shardOf(samples: number, rank: number, size: number): { start: number; end: number } {
  const per = Math.ceil(samples / size);
  return { start: Math.min(samples, rank * per), end: Math.min(samples, (rank + 1) * per) };
}
