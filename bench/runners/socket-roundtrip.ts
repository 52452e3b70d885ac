/**
 * The floor for event-driven TCP from Node: a raw loopback socket ping-pong between two processes, no
 * framing, no library (../shared/baselines/tcp-roundtrip.mjs). A 2-rank allreduce cannot beat one round
 * trip of its message, and a 2-rank ping-pong is one round trip of its message: it is compared with
 * both, float64 at 2 ranks, every size (one script run per size serves both rows).
 */
import type { RunContext, Runner } from '../harness/runner.js';
import { medianOnly } from '../harness/stats.js';
import { iterationsFor, type Result, type Workload } from '../harness/workload.js';
import { baselinePath, missingFile, parseBaselineLines, runToCompletion } from './baseline-process.js';

const SCRIPT = 'tcp-roundtrip.mjs';
/** The script times 8 batches of iterations/8 round trips and discards the first. */
const SCRIPT_BATCHES = 8;

export class SocketRoundTripRunner implements Runner {
  readonly name = 'socket-rtt';
  readonly label = 'raw socket round trip';
  readonly kind = 'baseline';
  readonly compareWith: readonly string[] = [];
  readonly inQuick = true;

  covers(w: Workload): boolean {
    return (
      (w.operation === 'allreduce' || w.operation === 'pingpong') && w.dtype === 'float64' && w.ranks === 2
    );
  }

  async unavailable(): Promise<string | null> {
    return missingFile(SCRIPT);
  }

  async run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    const results: Result[] = [];
    for (const bytes of new Set(workloads.map((w) => w.bytes))) {
      // Round trips are cheap: always the full run's count, so the floor itself is not noise.
      const iterations = SCRIPT_BATCHES * iterationsFor(bytes, 2, false);
      context.log(`${this.name}: ${SCRIPT} ${bytes} ${iterations}`);
      const { stdout } = await runToCompletion(process.execPath, [
        baselinePath(SCRIPT),
        String(bytes),
        String(iterations),
      ]);
      const line = parseBaselineLines(stdout).find((l) => l.op === 'roundtrip' && l.bytes === bytes);
      if (!line) continue;
      for (const w of workloads.filter((x) => x.bytes === bytes)) {
        results.push(medianOnly(this.name, w, line.medianUs));
      }
    }
    return results;
  }
}
