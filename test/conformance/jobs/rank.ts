/**
 * A rank of one of two jobs that share a node (test/conformance/jobs.test.ts). It reads only its
 * environment — a hand launch's COLLECTIVE_* variables or what mpirun gives it — calls init(),
 * contributes JOBS_TAG + rank to one allreduce, and prints one outcome line (OUTCOME_PREFIX + JSON).
 * A failed init() is an outcome too, and the process still exits 0: under mpirun a non-zero exit
 * would make mpirun kill the rank's partner before the test has seen what happened.
 *
 * JOBS_GATE (a file) and JOBS_GATE_RANK: that rank waits for the file to exist before init(), so the
 * test decides the order in which ranks of the two jobs reach the coordinator address.
 */
import { existsSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { describeEnvironment, init } from '../../../src/index.js';
import { OUTCOME_PREFIX, type JobOutcome } from './outcome.js';

function report(outcome: JobOutcome): void {
  process.stdout.write(`${OUTCOME_PREFIX}${JSON.stringify(outcome)}\n`);
}

/** Resolves once `path` exists: an inotify watch on its folder, checked again after the watch is set. */
function gateOpen(path: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dirname(path), () => {
      if (existsSync(path)) {
        watcher.close();
        resolve();
      }
    });
    if (existsSync(path)) {
      watcher.close();
      resolve();
    }
  });
}

const environment = describeEnvironment();
const rank = environment.rank?.value ?? -1;
const jobId = environment.jobId?.value ?? null;
const tag = Number(process.env['JOBS_TAG'] ?? '0');
const gate = process.env['JOBS_GATE'];
if (gate !== undefined && Number(process.env['JOBS_GATE_RANK']) === rank) await gateOpen(gate);

const started = performance.now();
try {
  const comm = await init();
  const sum = await comm.allreduce(Float64Array.of(tag + comm.rank));
  await comm.close();
  report({ rank, jobId, ok: true, sum: sum[0]! });
} catch (error) {
  const { kind, message, context, suggestion } = error as {
    kind?: string;
    message: string;
    context?: Record<string, unknown>;
    suggestion?: string;
  };
  const initMs = Math.round(performance.now() - started);
  report({
    rank,
    jobId,
    ok: false,
    kind: kind ?? String(error),
    message,
    context: context ?? {},
    suggestion,
    initMs,
  });
}
