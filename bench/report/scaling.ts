/**
 * The scaling report (spec/performance.md §3): for each backend that states a model, fit the model's
 * coefficients to the measured float64 points of each operation by least squares on relative error
 * (a 10 µs point counts as much as a 10 ms one), then show every point measured beside the model.
 */
import type { Runner, ScalingModel } from '../harness/runner.js';
import { formatBytes, type Operation, type Result } from '../harness/workload.js';
import { colorOf } from './latency-plot.js';
import { formatUs, markdownTable } from './format.js';
import type { ResultIndex } from './results-index.js';
import { renderPlot, type Panel, type Series } from './svg.js';

const MODELLED: readonly Operation[] = ['allreduce', 'allgatherv', 'broadcast', 'barrier'];

export interface ScalingFit {
  readonly runner: string;
  readonly operation: Operation;
  readonly model: ScalingModel;
  /** Fitted coefficients in µs per unit of each feature. */
  readonly coefficients: readonly number[];
  readonly points: readonly { result: Result; modelUs: number }[];
}

/** Solves (AᵀA)c = Aᵀy by Gaussian elimination with partial pivoting; null when singular. */
export function leastSquares(
  rows: readonly (readonly number[])[],
  targets: readonly number[],
): number[] | null {
  const k = rows[0]?.length ?? 0;
  if (k === 0 || rows.length < k) return null;
  const m = Array.from({ length: k }, (_, i) => [
    ...Array.from({ length: k }, (_, j) => rows.reduce((s, r) => s + (r[i] as number) * (r[j] as number), 0)),
    rows.reduce((s, r, n) => s + (r[i] as number) * (targets[n] as number), 0),
  ]);
  for (let col = 0; col < k; col++) {
    let pivot = col;
    for (let r = col + 1; r < k; r++) {
      if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    }
    if (Math.abs(m[pivot]![col]!) < 1e-300) return null;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < k; r++) {
      if (r === col) continue;
      const factor = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= k; c++) m[r]![c]! -= factor * m[col]![c]!;
    }
  }
  return m.map((row, i) => row[k]! / row[i]!);
}

/**
 * Least squares of Σ cⱼ·rowⱼ ≈ 1 with every cⱼ ≥ 0 (a cost is never negative): while a coefficient
 * comes out negative, its term is dropped (fixed at 0) and the rest refitted. Terms that are zero on
 * every row (barrier's bytes) are fixed at 0 from the start.
 */
export function nonNegativeFit(rows: readonly (readonly number[])[]): number[] | null {
  const k = rows[0]?.length ?? 0;
  const active = Array.from({ length: k }, (_, j) => rows.some((r) => (r[j] as number) !== 0));
  for (;;) {
    const kept = active.flatMap((on, j) => (on ? [j] : []));
    if (kept.length === 0) return null;
    const fit = leastSquares(
      rows.map((r) => kept.map((j) => r[j] as number)),
      rows.map(() => 1),
    );
    if (!fit) return null;
    const worst = fit.reduce((w, c, i) => (c < (fit[w] as number) ? i : w), 0);
    if ((fit[worst] as number) >= 0) {
      const full = new Array<number>(k).fill(0);
      kept.forEach((j, i) => (full[j] = fit[i] as number));
      return full;
    }
    active[kept[worst] as number] = false;
  }
}

export function fitScaling(runners: readonly Runner[], index: ResultIndex): ScalingFit[] {
  const fits: ScalingFit[] = [];
  for (const runner of runners) {
    const model = runner.model;
    if (!model) continue;
    for (const operation of MODELLED) {
      const results = index.results.filter(
        (r) =>
          r.runner === runner.name && r.workload.operation === operation && r.workload.dtype === 'float64',
      );
      const features = results.map((r) => model.features(operation, r.workload.ranks, r.workload.bytes));
      // Weighting each row by 1/measured makes the fit minimise relative error.
      const weighted = features.map((f, i) => f.map((v) => v / results[i]!.medianUs));
      const coefficients = nonNegativeFit(weighted);
      if (!coefficients) continue;
      const points = results.map((result, i) => ({
        result,
        modelUs: features[i]!.reduce((s, v, j) => s + v * coefficients[j]!, 0),
      }));
      fits.push({ runner: runner.name, operation, model, coefficients, points });
    }
  }
  return fits;
}

/** µs per unit, readable: per byte as ns/B, otherwise µs. */
function formatCoefficient(name: string, value: number): string {
  return name.includes('byte')
    ? `${name} = ${(value * 1000).toPrecision(3)} ns/B`
    : `${name} = ${value.toPrecision(3)} µs`;
}

export function scalingReport(fits: readonly ScalingFit[]): string {
  const parts: string[] = [];
  for (const fit of fits) {
    const coefficients = fit.model.coefficients.map((n, i) => formatCoefficient(n, fit.coefficients[i]!));
    parts.push(
      `**${fit.runner} ${fit.operation}** — ${fit.model.formula}; fitted ${coefficients.join(', ')}`,
    );
    const rows = [...fit.points]
      .sort(
        (a, b) =>
          a.result.workload.ranks - b.result.workload.ranks ||
          a.result.workload.bytes - b.result.workload.bytes,
      )
      .map(({ result, modelUs }) => [
        String(result.workload.ranks),
        fit.operation === 'barrier' ? '' : formatBytes(result.workload.bytes),
        formatUs(result.medianUs),
        formatUs(modelUs),
        `${(((result.medianUs - modelUs) / modelUs) * 100).toFixed(0)}%`,
      ]);
    parts.push(markdownTable(['ranks', 'bytes', 'measured µs', 'model µs', 'measured vs model'], rows));
  }
  return parts.join('\n\n');
}

/** Measured points (solid) against the fitted model (dashed), one colour per rank count. */
export function scalingPlot(fits: readonly ScalingFit[], title: string): string {
  const panels: Panel[] = fits
    .filter((f) => f.operation !== 'barrier')
    .map((fit) => {
      const ranks = [...new Set(fit.points.map((p) => p.result.workload.ranks))].sort((a, b) => a - b);
      const series: Series[] = ranks.flatMap((r, i) => {
        const mine = fit.points
          .filter((p) => p.result.workload.ranks === r)
          .sort((a, b) => a.result.workload.bytes - b.result.workload.bytes);
        const color = colorOf(`ranks-${r}`, i);
        return [
          {
            label: `${r} ranks measured`,
            color,
            dashed: false,
            points: mine.map((p) => [p.result.workload.bytes, p.result.medianUs] as const),
          },
          {
            label: `${r} ranks model`,
            color,
            dashed: true,
            points: mine.map((p) => [p.result.workload.bytes, Math.max(p.modelUs, 1e-3)] as const),
          },
        ];
      });
      return { title: `${fit.runner} ${fit.operation}`, series };
    });
  return renderPlot({
    title,
    xLabel: 'bytes per rank',
    yLabel: 'median µs per operation',
    columns: 3,
    panels,
    xTicks: [8, 512, 32768, 2097152].map((b) => [b, formatBytes(b)] as const),
  });
}
