/**
 * The markdown results table: one row per workload, the median µs of every runner side by side, and
 * for each backend its ratio to each baseline it is compared with (backend ÷ baseline: below 1× is faster).
 */
import type { Runner } from '../harness/runner.js';
import { formatBytes, type Workload } from '../harness/workload.js';
import { formatRatio, formatUs, markdownTable } from './format.js';
import type { ResultIndex } from './results-index.js';

export interface RatioColumn {
  readonly backend: string;
  readonly baseline: string;
}

export function ratioColumns(runners: readonly Runner[], index: ResultIndex): RatioColumn[] {
  const present = new Set(index.runners());
  return runners
    .filter((r) => r.kind === 'backend' && present.has(r.name))
    .flatMap((r) =>
      r.compareWith.filter((b) => present.has(b)).map((baseline) => ({ backend: r.name, baseline })),
    );
}

export function resultsTable(
  runners: readonly Runner[],
  index: ResultIndex,
  plan: readonly Workload[],
  keep: (w: Workload) => boolean = () => true,
): string {
  const present = new Set(index.runners());
  const shown = runners.filter((r) => present.has(r.name));
  const ratios = ratioColumns(runners, index);
  const header = [
    'operation',
    'dtype',
    'ranks',
    'bytes',
    ...shown.map((r) => `${r.name} µs`),
    ...ratios.map((c) => `${c.backend} ÷ ${c.baseline}`),
  ];
  const rows = index
    .workloads(plan)
    .filter(keep)
    .map((w) => [
      w.operation,
      w.operation === 'barrier' || w.operation === 'launch' ? '' : w.dtype,
      String(w.ranks),
      w.operation === 'barrier' || w.operation === 'launch' ? '' : formatBytes(w.bytes),
      ...shown.map((r) => formatUs(index.get(r.name, w)?.medianUs)),
      ...ratios.map((c) => formatRatio(ratioOf(index, c, w))),
    ]);
  return markdownTable(header, rows);
}

export function ratioOf(index: ResultIndex, column: RatioColumn, w: Workload): number | null {
  const ours = index.get(column.backend, w)?.medianUs;
  const theirs = index.get(column.baseline, w)?.medianUs;
  return ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : null;
}
