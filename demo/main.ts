/**
 * The demo behind `npm start`: data-parallel logistic regression on 4 workers with train(). It trains
 * on shared memory (worker threads), then again on TCP (processes), and shows that both produce the
 * same model to the last bit. `--backend shm|tcp` runs one backend and compares it with the last run of
 * the other one on this machine.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { train, type ProgressEvent } from '../src/index.js';
import type { DemoArgs, DemoResult } from './logistic-worker.js';

const USAGE = `usage: npm start -- [--backend shm|tcp] [--workers N] [--epochs N]

Trains a logistic-regression model on a synthetic data set, data-parallel over N workers (default 4),
combining gradients with allreduce every step. Without --backend it trains on shm and then on tcp and
compares the two models bit for bit.
`;

const DEFAULTS = { workers: 4, epochs: 20 };
const BACKENDS = ['shm', 'tcp'] as const;
type Backend = (typeof BACKENDS)[number];
/** Where a run leaves its model's digest, so that a run on the other backend can compare. */
const RECORD_DIR = join(tmpdir(), 'collective-demo');
const PERCENT = 100;
const MS_PER_SEC = 1000;
/** Weights printed in full (String() prints the shortest decimal that reads back to the same bits). */
const SHOWN_WEIGHTS = 4;

function parse(): { backends: readonly Backend[]; workers: number; epochs: number } | null {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      workers: { type: 'string', default: String(DEFAULTS.workers) },
      epochs: { type: 'string', default: String(DEFAULTS.epochs) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const workers = Number(values.workers);
  const epochs = Number(values.epochs);
  if (!Number.isInteger(workers) || workers < 1)
    throw new Error(`--workers must be an integer >= 1, got ${values.workers}`);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`--epochs must be an integer >= 1, got ${values.epochs}`);
  if (values.backend !== undefined && !BACKENDS.includes(values.backend as Backend)) {
    throw new Error(`--backend must be shm or tcp, got ${values.backend}`);
  }
  const backends = values.backend === undefined ? BACKENDS : [values.backend as Backend];
  return { backends, workers, epochs };
}

function digestOf(weights: Float64Array): string {
  return createHash('sha256')
    .update(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength))
    .digest('hex');
}

function showProgress(event: ProgressEvent): void {
  const { epoch, epochs, loss, accuracy } = event as ProgressEvent &
    Record<'epoch' | 'epochs' | 'loss' | 'accuracy', number>;
  const width = String(epochs).length;
  console.log(
    `  epoch ${String(epoch).padStart(width)}/${epochs}  loss ${loss.toFixed(5)}  accuracy ${(accuracy * PERCENT).toFixed(2)} %`,
  );
}

async function runOn(
  backend: Backend,
  args: DemoArgs,
  workers: number,
): Promise<{ result: DemoResult; digest: string }> {
  console.log(
    `\nTraining on ${backend} with ${workers} workers (${backend === 'shm' ? 'worker threads' : 'processes over TCP'})`,
  );
  const started = Date.now();
  const result = await train<DemoResult, DemoArgs>(new URL('./logistic-worker.ts', import.meta.url), {
    numWorkers: workers,
    backend,
    args,
    onProgress: showProgress,
  });
  const digest = digestOf(result.weights);
  const w = Array.from(result.weights);
  const bias = w.pop() as number;
  console.log(
    `  done in ${((Date.now() - started) / MS_PER_SEC).toFixed(1)} s on ${result.backend} × ${result.workers}`,
  );
  console.log(
    `  model: ${w.length} weights + bias; w[0..${SHOWN_WEIGHTS - 1}] = ${w
      .slice(0, SHOWN_WEIGHTS)
      .map((v) => String(v))
      .join(', ')}, bias = ${bias}`,
  );
  console.log(`  sha256 of the weights' bytes: ${digest}`);
  return { result, digest };
}

interface RunRecord {
  backend: Backend;
  digest: string;
  at: string;
}

function recordPath(args: DemoArgs, workers: number): string {
  const key = createHash('sha256').update(JSON.stringify({ args, workers })).digest('hex').slice(0, 16);
  return join(RECORD_DIR, `${key}.json`);
}

function readRecords(path: string): RunRecord[] {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunRecord[];
  } catch {
    return [];
  }
}

function saveRecord(path: string, record: RunRecord): void {
  const records = readRecords(path).filter((r) => r.backend !== record.backend);
  mkdirSync(RECORD_DIR, { recursive: true });
  writeFileSync(path, JSON.stringify([...records, record], null, 2));
}

async function main(): Promise<number> {
  const options = parse();
  if (options === null) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { backends, workers, epochs } = options;
  const args: DemoArgs = { seed: 2024, samples: 8_000, features: 16, epochs, batch: 250, learningRate: 0.5 };
  console.log(
    `Logistic regression: ${args.samples} samples × ${args.features} features (seed ${args.seed}), ` +
      `${args.epochs} epochs, sharded over ${workers} workers, gradients combined with allreduce`,
  );
  const path = recordPath(args, workers);
  const digests = new Map<Backend, string>();
  for (const backend of backends) {
    const { digest } = await runOn(backend, args, workers);
    digests.set(backend, digest);
    saveRecord(path, { backend, digest, at: new Date().toISOString() });
  }
  console.log('');
  if (digests.size === 2) {
    const [shm, tcp] = [digests.get('shm'), digests.get('tcp')];
    if (shm === tcp) {
      console.log(
        'shm and tcp produced identical weights, to the last bit: reductions run in rank order on every backend.',
      );
      return 0;
    }
    console.log('shm and tcp produced DIFFERENT weights: this is a bug in collective, please report it.');
    return 1;
  }
  const [backend] = backends as [Backend];
  const others = readRecords(path).filter((r) => r.backend !== backend);
  if (others.length === 0) {
    const other = backend === 'shm' ? 'tcp' : 'shm';
    console.log(`Run again with --backend ${other}: it will print the same weights to the last bit.`);
    return 0;
  }
  let same = true;
  for (const other of others) {
    const match = other.digest === digests.get(backend);
    same &&= match;
    console.log(
      match
        ? `Identical to the last bit to the ${other.backend} run of ${other.at}.`
        : `DIFFERENT from the ${other.backend} run of ${other.at}: this is a bug in collective, please report it.`,
    );
  }
  return same ? 0 : 1;
}

process.exitCode = await main();
