/**
 * The backend table (src/selection/backends.ts, spec/selection.md §2) is the one list of backends:
 * every row's name is accepted by init(), train() and `collective run --backend`, appears in
 * `collective run --help`, in `parseBackendChoice`'s list and in `collective doctor`, and the public
 * names match the rows. Every case is driven from the table, so a new row is covered by adding it.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BackendError, availableBackends, describeEnvironment, init, train } from '../../src/index.js';
import { formatReport } from '../../src/launch/doctor.js';
import { RUN_HELP } from '../../src/launch/run-args.js';
import { BACKEND_CHOICES, parseBackendChoice } from '../../src/selection/backend-choice.js';
import { BACKEND_TABLE } from '../../src/selection/backends.js';
import { childEnv } from './fixtures/child-env.js';
import { runCollective, type CliResult } from '../support/collective-cli.js';

const WORKER = new URL('../launch/fixtures/worker.ts', import.meta.url);
const RANK_SCRIPT = fileURLToPath(new URL('../launch/fixtures/rank-behaviour.ts', import.meta.url));
/** Generous: tsx compiles the CLI on a loaded 2-core machine. */
const CHILD_TIMEOUT_MS = 60_000;
/** Ranks for a row that can have many: two is the smallest group that communicates. */
const MANY = 2;

const NAMES = BACKEND_TABLE.map((row) => row.name);
const ranksOf = (row: (typeof BACKEND_TABLE)[number]): number => (row.launch.ranks === 'one' ? 1 : MANY);
/** train() starts threads and processes only: an mpirun row runs it with one worker (spec/train.md §7.10). */
const trainRanksOf = (row: (typeof BACKEND_TABLE)[number]): number =>
  row.launch.ranks === 'mpirun' ? 1 : ranksOf(row);

function collectiveRun(args: string[]): Promise<CliResult> {
  return runCollective(['run', ...args], childEnv({}), CHILD_TIMEOUT_MS);
}

describe('the backend table', () => {
  it('lists each name once, and is what availableBackends() and parseBackendChoice list', () => {
    expect(new Set(NAMES).size).toBe(NAMES.length);
    expect(availableBackends().map((b) => b.name)).toEqual(NAMES);
    expect(BACKEND_CHOICES).toEqual(['auto', ...NAMES]);
    const error = (() => {
      try {
        parseBackendChoice('options.backend', 'gloo');
      } catch (e) {
        return e;
      }
      return expect.fail('expected InvalidBackend');
    })() as BackendError;
    expect(error.message).toContain(`available: ${['auto', ...NAMES].join(', ')}`);
  });

  it('has exactly one last-resort auto step, and a launcher fallback', () => {
    const steps = BACKEND_TABLE.flatMap((row) => ('step' in row.auto ? [row.auto.step] : []));
    expect(new Set(steps).size).toBe(steps.length);
    const last = BACKEND_TABLE.find((row) => 'step' in row.auto && row.auto.step === Math.max(...steps));
    expect(last?.launch.ranks).toBe('one');
    const fallbacks = BACKEND_TABLE.filter(
      (row) =>
        'launcherAuto' in row.launch && row.launch.launcherAuto && row.launch.launcherAuto.when === undefined,
    );
    expect(fallbacks).toHaveLength(1);
  });

  describe.each(BACKEND_TABLE.map((row) => [row.name, row] as const))('%s', (name, row) => {
    it('is a name init() knows, in any case (a bad setup is not InvalidBackend)', async () => {
      for (const written of [name, ` ${name.toUpperCase()} `]) {
        const outcome = await init({ backend: written as never, env: {} }).then(
          async (comm) => {
            await comm.close();
            return comm.backend;
          },
          (e: unknown) => e,
        );
        if (typeof outcome === 'string') expect(outcome).toBe(name);
        else {
          expect(outcome).toBeInstanceOf(BackendError);
          expect((outcome as BackendError).kind).not.toBe('InvalidBackend');
        }
      }
    });

    it('is listed by collective doctor with its description', () => {
      const report = describeEnvironment({ env: {} });
      const text = formatReport(report);
      const info = report.backends.find((b) => b.name === name);
      expect(info?.description).toBe(row.description);
      const state = info?.available ? 'available' : `unavailable: ${info?.reason ?? ''}`;
      expect(text).toContain(`  ${name.padEnd(6)} ${state} — ${row.description}`);
    });

    it('is in collective run --help, with its line', () => {
      expect(RUN_HELP).toMatch(new RegExp(`--backend auto(\\|\\w+)*\\|${name}\\b`));
      expect(RUN_HELP).toContain(`${name}:`);
      expect(RUN_HELP).toContain(row.launch.help);
    });

    it(`runs under train() (numWorkers ${trainRanksOf(row)})`, async () => {
      const numWorkers = trainRanksOf(row);
      const result = await train<{ backend: string; total: number }>(WORKER, {
        numWorkers,
        backend: name,
        args: { mode: 'sum' },
      });
      // numWorkers 1 always runs in the calling thread, on the one-rank row.
      const oneRank = BACKEND_TABLE.find((r) => r.launch.ranks === 'one')!.name;
      expect(result).toMatchObject({ backend: numWorkers === 1 ? oneRank : name });
    });

    it(`runs under collective run --backend ${name} -n ${ranksOf(row)}`, async () => {
      const n = ranksOf(row);
      const ran = await collectiveRun([
        '-n',
        String(n),
        '--backend',
        name,
        '--no-prefix',
        RANK_SCRIPT,
        'backend',
      ]);
      expect(ran.stderr).toBe('');
      expect(ran.code).toBe(0);
      expect(ran.stdout.trim().split('\n')).toEqual(Array.from({ length: n }, () => `backend=${name}`));
    });
  });
});
