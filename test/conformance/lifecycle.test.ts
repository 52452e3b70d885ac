/**
 * The lifecycle family of the conformance suite: init/close in every order a program can produce, a rank that
 * never calls a collective, a rank that leaves early (closed or not), re-init — per backend × world size of
 * FACTORIES (a new backend joins by its factory), each scenario as a whole job under `collective run`.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runCli } from '../launch/run-cli.js';
import { FACTORIES } from './factories.js';
import { LIFECYCLE_SCENARIOS, OUTCOME_PREFIX, type LifecycleOutcome } from './lifecycle/scenarios.js';

const RANK = fileURLToPath(new URL('./lifecycle/rank.ts', import.meta.url));
/** Bounds a wrong Timeout (instead of a departure) well inside the test's own timeout. */
const FATAL_TIMEOUT_SECS = '20';

for (const factory of FACTORIES) {
  describe(`lifecycle: ${factory.backend}`, () => {
    const launch = factory.lifecycle;
    for (const size of launch?.sizes ?? factory.sizes) {
      describe(`size ${size}`, () => {
        for (const scenario of LIFECYCLE_SCENARIOS.filter((s) => size >= (s.minSize ?? 1))) {
          it(
            scenario.name,
            async () => {
              const run = runCli(
                [
                  '-n',
                  String(size),
                  '--backend',
                  launch?.backend ?? factory.backend,
                  '--no-prefix',
                  RANK,
                  scenario.name,
                ],
                { ...launch?.env, COLLECTIVE_TIMEOUT_SECS: FATAL_TIMEOUT_SECS },
              );
              // A scenario that hangs fails by the test's timeout: stop the job (its ranks too) then.
              onTestFinished(() => {
                if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
              });
              const { code, signal } = await run.exited;
              const outcomes = run.stdout
                .filter((line) => line.startsWith(OUTCOME_PREFIX))
                .map((line) => JSON.parse(line.slice(OUTCOME_PREFIX.length)) as LifecycleOutcome)
                .sort((a, b) => a.rank - b.rank);
              const context = `stdout:\n${run.stdout.join('\n')}\nstderr:\n${run.stderr.join('\n')}`;
              expect(
                outcomes.map((o) => o.rank),
                context,
              ).toEqual(Array.from({ length: size }, (_, r) => r));
              const departed = scenario.departing?.(size);
              for (const o of outcomes) {
                expect(o.ok, `rank ${o.rank}: ${o.message}\n${context}`).toBe(true);
                if (departed !== undefined && o.rank !== departed) {
                  expect({ code: o.code, culprit: o.culprit }, `rank ${o.rank}: ${o.message}`).toEqual({
                    code: 'CollectiveFailed',
                    culprit: departed,
                  });
                }
              }
              expect({ code, signal }, context).toEqual({ code: 0, signal: null });
            },
            90_000,
          );
        }
      });
    }
  });
}
