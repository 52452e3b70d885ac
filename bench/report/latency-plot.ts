/** The latency-vs-bytes figure: one panel per collective and rank count, one line per runner (float64). */
import type { Runner } from '../harness/runner.js';
import { formatBytes, sizeLadder, LARGEST_BYTES, type Operation } from '../harness/workload.js';
import type { ResultIndex } from './results-index.js';
import { renderPlot, type Panel } from './svg.js';

const PLOTTED: readonly Operation[] = ['allreduce', 'allgatherv', 'broadcast'];

/** Stable colours per runner so figures from different runs compare at a glance. */
const COLORS: Readonly<Record<string, string>> = {
  shm: '#1f5fbf',
  tcp: '#d62728',
  'mpi-vader': '#2ca02c',
  'mpi-tcp': '#9467bd',
  postmessage: '#ff7f0e',
  'socket-rtt': '#555555',
};
const SPARE_COLORS = ['#17becf', '#8c564b', '#e377c2', '#bcbd22'];

export function colorOf(runner: string, position: number): string {
  return COLORS[runner] ?? SPARE_COLORS[position % SPARE_COLORS.length] ?? '#000';
}

export function latencyPlot(runners: readonly Runner[], index: ResultIndex, title: string): string {
  const present = runners.filter((r) => index.runners().includes(r.name));
  const ranksMeasured = [...new Set(index.results.map((r) => r.workload.ranks))].sort((a, b) => a - b);
  const panels: Panel[] = [];
  for (const ranks of ranksMeasured) {
    for (const operation of PLOTTED) {
      const series = present
        .map((runner, i) => ({
          label: runner.label,
          color: colorOf(runner.name, i),
          dashed: runner.kind === 'baseline',
          points: index.results
            .filter(
              (r) =>
                r.runner === runner.name &&
                r.workload.operation === operation &&
                r.workload.dtype === 'float64' &&
                r.workload.ranks === ranks &&
                r.medianUs > 0,
            )
            .map((r) => [r.workload.bytes, r.medianUs] as const)
            .sort((a, b) => a[0] - b[0]),
        }))
        .filter((s) => s.points.length > 0);
      if (series.length > 0) panels.push({ title: `${operation}, ${ranks} ranks`, series });
    }
  }
  const xTicks = sizeLadder(LARGEST_BYTES)
    .filter((_, i) => i % 2 === 0)
    .map((b) => [b, formatBytes(b)] as const);
  return renderPlot({
    title,
    xLabel: 'bytes per rank',
    yLabel: 'median µs per operation',
    columns: PLOTTED.length,
    panels,
    xTicks,
  });
}
