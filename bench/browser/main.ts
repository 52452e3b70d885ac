/**
 * `npm run bench:browser [-- --quick] [--library dist|src] [--out dir]`
 *
 * A browser rank's 8 B allreduce (issue 13): rank 0 is the ws coordinator in this Node.js process
 * (connectWs on an ephemeral port of 127.0.0.1), rank 1 a tab of headless Chromium running the
 * browser bundle's init({ backend: 'ws' }). OSU-style on both ranks: warm-up, then per batch a
 * barrier (untimed) and ITERATIONS back-to-back float64 allreduces of 8 B; a batch took as long as
 * its slower rank; the median over batches is quoted, in µs per call. The tab's clock is
 * performance.now(), coarsened by Chromium (100 µs without cross-origin isolation): a batch of
 * hundreds of calls keeps that error below 1 µs per call. Compare with the harness's Node.js ws rank
 * (`npm run bench -- --runners tcp,ws --ops allreduce --ranks 2 --bytes 8`). Without Chromium it
 * says so and measures nothing (exit 0): a benchmark, not a test.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';
import { CHROMIUM_PATH, jsModule, openBrowser, type BrowserHarness } from '../../test/browser/support.js';
import { LIBRARY_SOURCES, libraryModule, libraryProblem, type LibrarySource } from '../harness/library.js';
import { describeMachine } from '../harness/machine.js';
import { maxOverRanks, quantile } from '../harness/stats.js';

type WsModule = typeof import('../../src/backends/ws/index.js');
type Communicator = Awaited<ReturnType<WsModule['connectWs']>>;

const SIZE = 2;
const PAGE_RANK = 1;
const BYTES = 8;
const TOKEN = 'bench-browser-token';
const TIMEOUT_SECS = 120;
const CONNECT_TIMEOUT_SECS = 60;
const US_PER_MS = 1000;
const DEFAULT_OUT_DIR = fileURLToPath(new URL('../results/', import.meta.url));

interface Plan {
  readonly warmup: number;
  readonly iterations: number;
  readonly batches: number;
}
const FULL: Plan = { warmup: 500, iterations: 500, batches: 11 };
const QUICK: Plan = { warmup: 50, iterations: 100, batches: 5 };

/** rank 0's loop: the same calls as the page's, its µs per call per batch. */
async function nodeLoop(comm: Communicator, plan: Plan): Promise<number[]> {
  const send = new Float64Array(BYTES / Float64Array.BYTES_PER_ELEMENT).fill(comm.rank + 1);
  for (let i = 0; i < plan.warmup; i++) await comm.allreduce(send, 'sum');
  const perCall: number[] = [];
  for (let b = 0; b < plan.batches; b++) {
    await comm.barrier();
    const started = performance.now();
    for (let i = 0; i < plan.iterations; i++) await comm.allreduce(send, 'sum');
    perCall.push(((performance.now() - started) * US_PER_MS) / plan.iterations);
  }
  return perCall;
}

/**
 * The page's side, as source text (a string, so no loader rewrites it): joins as rank 1, runs the
 * same loop, checks the last result (1 + 2 = 3) and returns its µs per call per batch.
 */
function pageLoop(url: string, plan: Plan): string {
  const options = { backend: 'ws', url, rank: PAGE_RANK, size: SIZE, token: TOKEN };
  return `(async () => {
    const { collective } = globalThis.__collectiveTestModules;
    const comm = await collective.init(${JSON.stringify({ ...options, timeoutSecs: TIMEOUT_SECS, connectTimeoutSecs: CONNECT_TIMEOUT_SECS })});
    const plan = ${JSON.stringify(plan)};
    const send = new Float64Array(${BYTES / Float64Array.BYTES_PER_ELEMENT}).fill(comm.rank + 1);
    let last;
    for (let i = 0; i < plan.warmup; i++) last = await comm.allreduce(send, 'sum');
    const perCall = [];
    for (let b = 0; b < plan.batches; b++) {
      await comm.barrier();
      const started = performance.now();
      for (let i = 0; i < plan.iterations; i++) last = await comm.allreduce(send, 'sum');
      perCall.push(((performance.now() - started) * ${US_PER_MS}) / plan.iterations);
    }
    if (last[0] !== 3) throw new Error('allreduce in the page gave ' + last[0] + ', expected 3');
    await comm.close();
    return perCall;
  })()`;
}

async function measure(library: LibrarySource, plan: Plan): Promise<{ node: number[]; page: number[] }> {
  const { connectWs } = (await import(libraryModule(library, 'backends/ws/index'))) as WsModule;
  const bundle = await buildBrowserBundle({ outfile: '/collective.js', write: false });
  const served: Record<string, ReturnType<typeof jsModule>> = {};
  for (const file of bundle.outputFiles ?? []) served[file.path] = jsModule(file.contents);
  const harness: BrowserHarness = await openBrowser(served, { collective: '/collective.js' });
  try {
    let announce: (url: string) => void = () => {};
    const listening = new Promise<string>((resolve) => (announce = resolve));
    const rank0 = connectWs({
      rank: 0,
      size: SIZE,
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      allowedOrigins: [harness.origin],
      timeoutSecs: TIMEOUT_SECS,
      connectTimeoutSecs: CONNECT_TIMEOUT_SECS,
      onListening: ({ host, port }) => announce(`ws://${host}:${port}/`),
    });
    const url = await Promise.race([listening, rank0.then(() => '')]);
    const pageTimings = harness.page.evaluate(pageLoop(url, plan)) as Promise<number[]>;
    const comm = await rank0;
    try {
      const [node, page] = await Promise.all([nodeLoop(comm, plan), pageTimings]);
      return { node, page };
    } finally {
      await comm.close();
    }
  } finally {
    await harness.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      library: { type: 'string', default: 'dist' },
      out: { type: 'string', default: DEFAULT_OUT_DIR },
    },
  });
  const library = values.library as LibrarySource;
  if (!LIBRARY_SOURCES.includes(library)) throw new Error(`--library: choose dist or src, got '${library}'`);
  const problem = libraryProblem(library);
  if (problem) throw new Error(problem);
  if (!existsSync(CHROMIUM_PATH)) {
    process.stdout.write(
      `browser rank not measured: no Chromium at ${CHROMIUM_PATH} (install Debian's chromium, as .ci/run does)\n`,
    );
    return;
  }
  const plan = values.quick ? QUICK : FULL;
  const { node, page } = await measure(library, plan);
  const batches = maxOverRanks([node, page]);
  const median = (xs: readonly number[]): number => quantile(xs, 0.5);
  const result = {
    machine: describeMachine(),
    quick: values.quick,
    library,
    workload: { operation: 'allreduce', dtype: 'float64', bytes: BYTES, ranks: SIZE, ...plan },
    medianUs: median(batches),
    p10Us: quantile(batches, 0.1),
    p90Us: quantile(batches, 0.9),
    rankMedianUs: { node: median(node), page: median(page) },
    batchesUs: { node, page },
  };
  const prefix = values.quick ? 'quick-' : '';
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `${prefix}browser-results.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  const us = (x: number): string => x.toFixed(1);
  process.stdout.write(
    [
      `## A browser rank's allreduce 8 B${values.quick ? ' (--quick: smoke run, not for quoting)' : ''}`,
      '',
      `Machine: ${result.machine.summary}. Rank 0: Node.js (connectWs), rank 1: headless Chromium (init({ backend: 'ws' })); ${plan.batches} batches of ${plan.iterations} calls after ${plan.warmup} warm-up.`,
      '',
      '| ranks | bytes | median µs/call (max over ranks) | p10 | p90 | rank 0 (Node) median | rank 1 (page) median |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${SIZE} | ${BYTES} B | ${us(result.medianUs)} | ${us(result.p10Us)} | ${us(result.p90Us)} | ${us(result.rankMedianUs.node)} | ${us(result.rankMedianUs.page)} |`,
      '',
    ].join('\n'),
  );
  process.stderr.write(`[bench:browser] wrote ${file}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench:browser: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
