// Charts as PNG (training curves, the LR finder): declared as Vega-Lite specs, rendered to SVG by
// Vega without a browser or canvas, and rasterised by sharp (which the image pipeline already uses).
// Vega-Lite chooses round ticks ("nice" scales), lays out panels and legends, and draws log axes.
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../base/safe-write.js';

/** One line of a chart: its legend name and its points. */
export interface Series {
  name: string;
  points: [number, number][];
  /** Drawn dashed (e.g. a baseline). */
  dashed?: boolean;
}

/** One panel: lines sharing a y axis. */
export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  logX?: boolean;
  /** A vertical marker, e.g. the suggested learning rate. */
  marker?: { x: number; label: string };
  width?: number;
  /** Height of each panel. */
  height?: number;
}

const FONT = 'DejaVu Sans, sans-serif';

/** A Vega-Lite spec of panels stacked vertically, sharing the x axis. */
export function chartSpec(panels: Panel[], o: ChartOptions): TopLevelSpec {
  const width = o.width ?? 720;
  const height = o.height ?? (panels.length > 1 ? 240 : 420);
  const layer = (p: Panel) => {
    const values = p.series.flatMap((s) =>
      s.points
        .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0))
        .map(([x, y]) => ({ x, y, series: s.name, dashed: Boolean(s.dashed) })),
    );
    const lines = {
      data: { values },
      mark: { type: 'line' as const, strokeWidth: 2, clip: true, point: p.series.some((s) => s.points.length <= 40) },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative' as const,
          title: o.xLabel,
          scale: o.logX ? { type: 'log' as const } : { zero: false },
          // A log axis labels whole decades only, as 1e-4.
          ...(o.logX
            ? { axis: { labelExpr: "abs(log(datum.value) / LN10 - round(log(datum.value) / LN10)) < 1e-6 ? format(datum.value, '.0e') : ''" } }
            : {}),
        },
        y: { field: 'y', type: 'quantitative' as const, title: p.yLabel, scale: { zero: false } },
        color: {
          field: 'series',
          type: 'nominal' as const,
          title: null,
          sort: p.series.map((s) => s.name),
          legend: { orient: 'top-right' as const, labelLimit: 0 },
        },
        strokeDash: {
          field: 'dashed',
          type: 'nominal' as const,
          scale: {
            domain: [false, true],
            range: [
              [1, 0],
              [6, 4],
            ],
          },
          legend: null,
        },
      },
    };
    const marker = o.marker && Number.isFinite(o.marker.x) && (!o.logX || o.marker.x > 0) ? o.marker : null;
    const rules = marker
      ? [
          {
            data: { values: [{ x: marker.x, label: marker.label }] },
            mark: { type: 'rule' as const, color: '#d62728', strokeDash: [6, 4] },
            encoding: { x: { field: 'x', type: 'quantitative' as const } },
          },
          {
            data: { values: [{ x: marker.x, label: marker.label }] },
            mark: { type: 'text' as const, color: '#d62728', align: 'left' as const, dx: 6, baseline: 'bottom' as const, y: height - 6 },
            encoding: { x: { field: 'x', type: 'quantitative' as const }, text: { field: 'label', type: 'nominal' as const } },
          },
        ]
      : [];
    return { title: p.title, width, height, layer: [lines, ...rules] };
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, fontSize: 16 },
    background: 'white',
    padding: 12,
    config: { font: FONT, axis: { labelFontSize: 12, titleFontSize: 13, grid: true }, legend: { labelFontSize: 12 } },
    vconcat: panels.map(layer),
    resolve: { scale: { x: 'shared', color: 'independent', strokeDash: 'independent' } },
  } as TopLevelSpec;
}

/** The chart as SVG text. */
export async function chartSvg(panels: Panel[], o: ChartOptions): Promise<string> {
  const compiled = vl.compile(chartSpec(panels, o)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function writeChart(file: string, panels: Panel[], o: ChartOptions): Promise<void> {
  await writeFileAtomic(
    file,
    await sharp(Buffer.from(await chartSvg(panels, o)))
      .png()
      .toBuffer(),
  );
}
