/**
 * What a Node user writes without a library: worker_threads, rank 0 gathers Float64Arrays over
 * MessagePorts, sums, posts back (../shared/baselines/postmessage-allreduce.mjs). allreduce float64
 * only, ×8 sizes from 8 B. Slow (thousands of iterations at every size), so not in --quick.
 */
import type { RunContext, Runner } from '../harness/runner.js';
import { byRanks } from '../harness/runner.js';
import { medianOnly } from '../harness/stats.js';
import type { Result, Workload } from '../harness/workload.js';
import { baselinePath, missingFile, parseBaselineLines, runToCompletion } from './baseline-process.js';

const SCRIPT = 'postmessage-allreduce.mjs';

export class PostMessageRunner implements Runner {
  readonly name = 'postmessage';
  readonly label = 'postMessage star';
  readonly kind = 'baseline';
  readonly compareWith: readonly string[] = [];
  readonly inQuick = false;

  covers(w: Workload): boolean {
    return w.operation === 'allreduce' && w.dtype === 'float64';
  }

  async unavailable(): Promise<string | null> {
    return missingFile(SCRIPT);
  }

  async run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    const results: Result[] = [];
    for (const [ranks, group] of byRanks(workloads)) {
      const largest = Math.max(...group.map((w) => w.bytes));
      context.log(`${this.name}: ${SCRIPT} ${ranks} ${largest}`);
      const { stdout } = await runToCompletion(process.execPath, [
        baselinePath(SCRIPT),
        String(ranks),
        String(largest),
      ]);
      const lines = parseBaselineLines(stdout);
      for (const w of group) {
        const line = lines.find((l) => l.op === 'allreduce' && l.bytes === w.bytes);
        if (line) results.push(medianOnly(this.name, w, line.medianUs));
      }
    }
    return results;
  }
}
