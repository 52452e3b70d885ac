/**
 * A small log–log line plot in plain SVG text (no plotting dependency): a grid of panels sharing axes,
 * one polyline per series, a legend on top. Used for latency vs bytes and for the scaling model.
 */

export interface Series {
  readonly label: string;
  readonly color: string;
  /** Baselines and models are dashed; our backends are solid. */
  readonly dashed: boolean;
  /** [x, y] with x, y > 0 (log axes); sorted by x. */
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly series: readonly Series[];
}

export interface PlotSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly columns: number;
  readonly panels: readonly Panel[];
  /** Tick positions on x and their labels (log axis). */
  readonly xTicks: readonly (readonly [number, string])[];
}

const PANEL_WIDTH_PX = 330;
const PANEL_HEIGHT_PX = 250;
const MARGIN_LEFT_PX = 62;
const MARGIN_RIGHT_PX = 26;
const MARGIN_TOP_PX = 26;
const MARGIN_BOTTOM_PX = 40;
const HEADER_PX = 34;
const LEGEND_ROW_PX = 18;
const LEGEND_ITEM_PX = 190;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function decadeTicks(lo: number, hi: number): Array<[number, string]> {
  const ticks: Array<[number, string]> = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    const v = 10 ** e;
    ticks.push([v, v >= 1e3 ? `${v / 1e3}k`.replace('000k', 'M') : String(v)]);
  }
  return ticks;
}

export function renderPlot(spec: PlotSpec): string {
  const all = spec.panels.flatMap((p) => p.series.flatMap((s) => s.points));
  if (all.length === 0) return emptyPlot(spec.title);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xLo = Math.log10(Math.min(...xs));
  const xHi = Math.log10(Math.max(...xs));
  const yLo = Math.floor(Math.log10(Math.min(...ys)));
  const yHi = Math.ceil(Math.log10(Math.max(...ys)));
  const yTicks = decadeTicks(10 ** yLo, 10 ** yHi);

  const legend = [...new Map(spec.panels.flatMap((p) => p.series).map((s) => [s.label, s])).values()];
  const columns = Math.min(spec.columns, spec.panels.length);
  const rows = Math.ceil(spec.panels.length / columns);
  const width = columns * PANEL_WIDTH_PX;
  const perRow = Math.max(1, Math.floor(width / LEGEND_ITEM_PX));
  const legendHeight = Math.ceil(legend.length / perRow) * LEGEND_ROW_PX + 8;
  const top = HEADER_PX + legendHeight;
  const height = top + rows * PANEL_HEIGHT_PX;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" ${FONT}>${escape(spec.title)}</text>`,
  ];
  legend.forEach((s, i) => {
    const x = 12 + (i % perRow) * LEGEND_ITEM_PX;
    const y = HEADER_PX + Math.floor(i / perRow) * LEGEND_ROW_PX + 8;
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 26}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${x + 32}" y="${y + 4}" font-size="12" ${FONT}>${escape(s.label)}</text>`,
    );
  });

  spec.panels.forEach((panel, i) => {
    const ox = (i % columns) * PANEL_WIDTH_PX + MARGIN_LEFT_PX;
    const oy = top + Math.floor(i / columns) * PANEL_HEIGHT_PX + MARGIN_TOP_PX;
    const w = PANEL_WIDTH_PX - MARGIN_LEFT_PX - MARGIN_RIGHT_PX;
    const h = PANEL_HEIGHT_PX - MARGIN_TOP_PX - MARGIN_BOTTOM_PX;
    const px = (x: number): number => ox + ((Math.log10(x) - xLo) / (xHi - xLo || 1)) * w;
    const py = (y: number): number => oy + h - ((Math.log10(y) - yLo) / (yHi - yLo || 1)) * h;
    out.push(
      `<text x="${ox + w / 2}" y="${oy - 8}" text-anchor="middle" font-size="13" ${FONT}>${escape(panel.title)}</text>`,
      `<rect x="${ox}" y="${oy}" width="${w}" height="${h}" fill="none" stroke="#444"/>`,
    );
    for (const [v, label] of yTicks) {
      const y = py(v).toFixed(1);
      out.push(
        `<line x1="${ox}" y1="${y}" x2="${ox + w}" y2="${y}" stroke="#ddd"/>`,
        `<text x="${ox - 5}" y="${Number(y) + 4}" text-anchor="end" font-size="10" ${FONT}>${label}</text>`,
      );
    }
    for (const [v, label] of spec.xTicks) {
      if (Math.log10(v) < xLo - 1e-9 || Math.log10(v) > xHi + 1e-9) continue;
      const x = px(v).toFixed(1);
      out.push(
        `<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + h}" stroke="#eee"/>`,
        `<text x="${x}" y="${oy + h + 14}" text-anchor="middle" font-size="10" ${FONT}>${escape(label)}</text>`,
      );
    }
    out.push(
      `<text x="${ox + w / 2}" y="${oy + h + 32}" text-anchor="middle" font-size="11" ${FONT}>${escape(spec.xLabel)}</text>`,
      `<text transform="translate(${ox - 46},${oy + h / 2}) rotate(-90)" text-anchor="middle" font-size="11" ${FONT}>${escape(spec.yLabel)}</text>`,
    );
    for (const s of panel.series) {
      if (s.points.length === 0) continue;
      const coords = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(
        `<polyline points="${coords.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`,
        ...coords.map((c) => {
          const [cx, cy] = c.split(',');
          return `<circle cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`;
        }),
      );
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function emptyPlot(title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="60"><text x="10" y="35" font-size="14" ${FONT}>${escape(title)}: no results</text></svg>\n`;
}
