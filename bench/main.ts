/**
 * `npm run bench [-- --quick] [--runners shm,mpi-vader] [--ops allreduce] [--ranks 2] [--bytes 8,2097152]
 *   [--library dist|src] [--out dir] [--baselines dir]`
 *
 * Runs every registered runner (our backends and the baselines) over one plan of workloads, in one
 * run, and prints a markdown report: the targets, the results table with ratios, the scaling fits.
 * Writes the JSON, the report and the SVG plots to bench/results/ (or --out). --quick is the CI smoke:
 * small sizes, 2 and 4 ranks, no slow baselines; it never asserts timings. A runner that is
 * unavailable or fails is reported and shows n/a; the run still succeeds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LIBRARY_SOURCES, libraryProblem, type LibrarySource } from './harness/library.js';
import { describeMachine, type MachineDescription } from './harness/machine.js';
import { registeredRunners, type RunContext, type Runner } from './harness/runner.js';
import { planWorkloads, type Operation, type Result, type Workload } from './harness/workload.js';
import { latencyPlot } from './report/latency-plot.js';
import { ResultIndex } from './report/results-index.js';
import { fitScaling, scalingPlot, scalingReport } from './report/scaling.js';
import { resultsTable } from './report/table.js';
import { checkTargets, targetsTable } from './report/targets.js';
import { setBaselinesDir } from './runners/baseline-process.js';
import './runners/register.js';

const LIBRARY_LABEL: Record<LibrarySource, string> = {
  dist: 'the built package (dist/)',
  src: 'the TypeScript sources through tsx',
};
const DEFAULT_OUT_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const OPERATIONS: readonly Operation[] = [
  'allreduce',
  'allgatherv',
  'broadcast',
  'barrier',
  'pingpong',
  'alltoall',
  'launch',
];

interface RunnerOutcome {
  readonly runner: string;
  readonly kind: Runner['kind'];
  readonly status: 'measured' | 'skipped' | 'unavailable' | 'failed';
  readonly reason?: string;
  readonly seconds: number;
}

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);

function numbers(flag: string, value: string | undefined): number[] | undefined {
  const items = list(value)?.map(Number);
  if (items?.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(`--${flag} takes positive integers separated by commas, got '${value}'`);
  }
  return items;
}

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      runners: { type: 'string' },
      ops: { type: 'string' },
      ranks: { type: 'string' },
      bytes: { type: 'string' },
      out: { type: 'string' },
      baselines: { type: 'string' },
      library: { type: 'string', default: 'dist' },
    },
  });
  const operations = list(values.ops);
  const unknownOp = operations?.find((op) => !OPERATIONS.includes(op as Operation));
  if (unknownOp)
    throw new Error(`--ops: unknown operation '${unknownOp}'; choose from ${OPERATIONS.join(', ')}`);
  const library = values.library as LibrarySource;
  if (!LIBRARY_SOURCES.includes(library)) {
    throw new Error(`--library: '${values.library}'; choose dist (the built package) or src (via tsx)`);
  }
  const problem = libraryProblem(library);
  if (problem) throw new Error(problem);
  const runners = list(values.runners);
  const names = registeredRunners().map((r) => r.name);
  const unknownRunner = runners?.find((r) => !names.includes(r));
  if (unknownRunner)
    throw new Error(`--runners: no runner named '${unknownRunner}'; registered: ${names.join(', ')}`);
  return {
    quick: values.quick ?? false,
    runners,
    operations: operations as Operation[] | undefined,
    ranks: numbers('ranks', values.ranks),
    bytes: numbers('bytes', values.bytes),
    out: values.out ?? DEFAULT_OUT_DIR,
    baselines: values.baselines,
    library,
  };
}

async function runAll(
  runners: readonly Runner[],
  plan: readonly Workload[],
  context: RunContext,
): Promise<{ results: Result[]; outcomes: RunnerOutcome[] }> {
  const results: Result[] = [];
  const outcomes: RunnerOutcome[] = [];
  for (const runner of runners) {
    const started = performance.now();
    const record = (status: RunnerOutcome['status'], reason?: string): void => {
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      outcomes.push({
        runner: runner.name,
        kind: runner.kind,
        status,
        seconds,
        ...(reason ? { reason } : {}),
      });
      context.log(`${runner.name}: ${status}${reason ? ` (${reason})` : ''} in ${seconds} s`);
    };
    if (context.quick && !runner.inQuick) {
      record('skipped', 'slow; full run only');
      continue;
    }
    const reason = await runner.unavailable();
    if (reason !== null) {
      record('unavailable', reason);
      continue;
    }
    const covered = plan.filter((w) => runner.covers(w, context.quick));
    if (covered.length === 0) {
      record('skipped', 'no workload in this plan');
      continue;
    }
    try {
      results.push(...(await runner.run(covered, context)));
      record('measured');
    } catch (error) {
      record('failed', error instanceof Error ? error.message : String(error));
    }
  }
  return { results, outcomes };
}

function report(
  machine: MachineDescription,
  quick: boolean,
  library: LibrarySource,
  runners: readonly Runner[],
  plan: readonly Workload[],
  results: readonly Result[],
  outcomes: readonly RunnerOutcome[],
): { markdown: string; summary: string; latencySvg: string; scalingSvg: string } {
  const index = new ResultIndex(results);
  const fits = fitScaling(runners, index);
  const notMeasured = outcomes.filter((o) => o.status !== 'measured');
  const markdown = [
    `## Benchmark${quick ? ' (--quick: smoke run, not for quoting)' : ''}`,
    '',
    `Machine: ${machine.summary}. Medians over ${plan[0]?.batches ?? 0} batches, max over ranks; µs per operation; ranks run ${LIBRARY_LABEL[library]}.`,
    '',
    '### Targets',
    '',
    targetsTable(checkTargets(index)),
    '',
    '### Results (median µs; ratio = ours ÷ baseline, below 1× is faster)',
    '',
    resultsTable(runners, index, plan),
    '',
    '### Scaling (spec/performance.md §3)',
    '',
    fits.length > 0 ? scalingReport(fits) : 'No backend results to fit.',
    '',
    ...(notMeasured.length > 0
      ? [
          '### Not measured',
          '',
          ...notMeasured.map((o) => `- ${o.runner}: ${o.status} (${o.reason ?? ''})`),
          '',
        ]
      : []),
  ].join('\n');
  // The README's excerpt: the targets and every 2-rank row (the launch row is at 4).
  const summary = [
    `Machine: ${machine.summary}.`,
    '',
    targetsTable(checkTargets(index)),
    '',
    resultsTable(runners, index, plan, (w) => w.ranks === 2 || w.operation === 'launch'),
  ].join('\n');
  const title = `collective latency vs bytes (${machine.cores} cores, medians)`;
  return {
    markdown,
    summary,
    latencySvg: latencyPlot(runners, index, title),
    scalingSvg: scalingPlot(fits, 'measured (solid) vs scaling model (dashed)'),
  };
}

async function main(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  if (options.baselines) setBaselinesDir(options.baselines);
  const runners = registeredRunners().filter((r) => options.runners?.includes(r.name) ?? true);
  const plan = planWorkloads(options);
  const problems: RunnerOutcome[] = [];
  const context: RunContext = {
    quick: options.quick,
    library: options.library,
    log: (line) => process.stderr.write(`[bench] ${line}\n`),
    problem: (runner, message) => {
      const kind = registeredRunners().find((r) => r.name === runner)?.kind ?? 'backend';
      problems.push({ runner, kind, status: 'failed', reason: message, seconds: 0 });
      context.log(`${runner}: ${message}`);
    },
  };
  const machine = describeMachine();
  const started = performance.now();
  const run = await runAll(runners, plan, context);
  const { results } = run;
  const outcomes = [...run.outcomes, ...problems];
  const { markdown, summary, latencySvg, scalingSvg } = report(
    machine,
    options.quick,
    options.library,
    runners,
    plan,
    results,
    outcomes,
  );
  process.stdout.write(`${markdown}\n`);

  const prefix = options.quick ? 'quick-' : '';
  mkdirSync(options.out, { recursive: true });
  const json = {
    machine,
    quick: options.quick,
    library: options.library,
    seconds: (performance.now() - started) / 1000,
    outcomes,
    results,
  };
  writeFileSync(join(options.out, `${prefix}results.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(options.out, `${prefix}results.md`), `${markdown}\n`);
  writeFileSync(join(options.out, `${prefix}summary.md`), `${summary}\n`);
  writeFileSync(join(options.out, `${prefix}latency.svg`), latencySvg);
  writeFileSync(join(options.out, `${prefix}scaling.svg`), scalingSvg);
  context.log(
    `wrote ${join(options.out, `${prefix}{results.json,results.md,summary.md,latency.svg,scaling.svg}`)} in ${json.seconds.toFixed(0)} s`,
  );
  // A baseline may be missing or fail (n/a); our own backend failing to run its benchmark is a bug.
  const broken = outcomes.filter((o) => o.kind === 'backend' && o.status === 'failed');
  if (broken.length > 0) {
    process.stderr.write(
      `bench: ${broken.map((o) => o.runner).join(', ')} failed; see "Not measured" above\n`,
    );
    process.exitCode = 1;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
