/** Number formatting shared by the table, the targets and the scaling report. */

const MS_THRESHOLD_US = 10_000;

/** Microseconds with 3 significant digits; long times (launch) in milliseconds. */
export function formatUs(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return 'n/a';
  if (us >= MS_THRESHOLD_US) return `${threeDigits(us / 1000)} ms`;
  return threeDigits(us);
}

function threeDigits(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

export function formatRatio(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return 'n/a';
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio < 0.1 ? ratio.toPrecision(2) : ratio.toFixed(2)}×`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = `|${header.map((_, i) => (i < 1 ? ' --- ' : ' ---: ')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
