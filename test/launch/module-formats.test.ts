/**
 * Rank programs and worker modules of every file extension, in a CommonJS package and in an ES module
 * package (spec/train.md §8): `collective run` and train() load each, on shm (worker threads) and on
 * tcp (child processes), where loading differs. The projects use the built package (dist/) through
 * node_modules/collective, as a user's project does. The runs of one package start together, a few at
 * a time (each is mostly process start-up, which both cores can share), and each test checks its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitConcurrency } from '../support/limit.js';
import {
  EXTENSIONS,
  PACKAGE_TYPES,
  TRAIN_BACKENDS,
  TRAIN_DRIVER,
  TRAIN_WORKERS,
  createProject,
  type Project,
  type TrainOutcome,
} from './formats/project.js';

const BIN = fileURLToPath(new URL('../../bin/collective.js', import.meta.url));
const BACKENDS = ['shm', 'tcp'] as const;
const CASES = EXTENSIONS.flatMap((extension) => BACKENDS.map((backend) => [extension, backend] as const));
const TRAIN_CASES = EXTENSIONS.flatMap((extension) =>
  TRAIN_BACKENDS.map((backend) => [extension, backend] as const),
);
const RANKS = 2;
/** Runs of one package at once: the train() driver and two rank programs, on two cores. */
const CONCURRENT_RUNS = 3;
/** Each rank adds rank + 1. */
const sumOver = (ranks: number): number => (ranks * (ranks + 1)) / 2;

type Ran = { code: number | null; output: string };

function node(args: readonly string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe.each(PACKAGE_TYPES)('a "type": "%s" package', (type) => {
  let project: Project;
  let trained: Map<string, TrainOutcome>;
  /** Each rank program's run by `extension backend`, started in beforeAll. */
  const runs = new Map<string, Promise<Ran>>();

  beforeAll(async () => {
    project = createProject(type);
    const slot = limitConcurrency(CONCURRENT_RUNS);
    // The driver first: it takes longest, and beforeAll waits for it; the runs share the other slots.
    const driver = slot(() => node([TRAIN_DRIVER], project.dir));
    for (const [extension, backend] of CASES) {
      const script = project.rankProgram(extension);
      const run = slot(() =>
        node([BIN, 'run', '-n', String(RANKS), '--backend', backend, script], project.dir),
      );
      run.catch(() => {}); // its test awaits it and reports the failure
      runs.set(`${extension} ${backend}`, run);
    }
    const { code, output } = await driver;
    expect(code, output).toBe(0);
    const outcomes = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as TrainOutcome);
    trained = new Map(outcomes.map((o) => [`${o.extension} ${o.backend}`, o]));
  });

  afterAll(async () => {
    await Promise.allSettled(runs.values());
    project?.remove();
  });

  it.each(CASES)('collective run -n 2 runs a %s rank program (%s)', async (extension, backend) => {
    const { code, output } = await runs.get(`${extension} ${backend}`)!;
    expect(code, output).toBe(0);
    for (let rank = 0; rank < RANKS; rank++) {
      expect(output).toContain(`rank ${rank} of ${RANKS} on ${backend}: sum ${sumOver(RANKS)}`);
    }
  });

  it.each(TRAIN_CASES)('train() runs a %s worker module (%s)', (extension, backend) => {
    const outcome = trained.get(`${extension} ${backend}`);
    expect(outcome?.error).toBeUndefined();
    const workers = backend === 'local' ? 1 : TRAIN_WORKERS;
    expect(outcome?.value).toEqual({ sum: sumOver(workers), backend, sameCommError: true });
  });
});
