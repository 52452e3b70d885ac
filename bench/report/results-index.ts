/** Results looked up by runner and workload: the one view the table, targets, plot and scaling share. */
import { workloadKey, type Result, type Workload } from '../harness/workload.js';

export class ResultIndex {
  readonly #byKey = new Map<string, Result>();
  readonly results: readonly Result[];

  constructor(results: readonly Result[]) {
    this.results = results;
    for (const r of results) this.#byKey.set(`${r.runner}@${workloadKey(r.workload)}`, r);
  }

  get(runner: string, w: Pick<Workload, 'operation' | 'dtype' | 'bytes' | 'ranks'>): Result | undefined {
    return this.#byKey.get(`${runner}@${workloadKey(w)}`);
  }

  /** Runners with at least one result, in first-seen order. */
  runners(): string[] {
    return [...new Set(this.results.map((r) => r.runner))];
  }

  /** Distinct workloads measured by anyone, in plan order (operation, dtype, ranks, bytes). */
  workloads(order: readonly Workload[]): Workload[] {
    const seen = new Set(this.results.map((r) => workloadKey(r.workload)));
    return order.filter((w) => seen.has(workloadKey(w)));
  }
}
