// Charts through Vega-Lite: round ticks, one panel per quantity, the baseline dashed, log axes for rates.
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { chartSvg, writeChart } from '../../../src/tracking/plot.js';
import { useTmpDir } from '../../helpers/tmp-dir.js';
import path from 'node:path';

const tmpDir = useTmpDir('gzx-plot-');

/** The text of every tick label in an SVG (Vega draws each as a <text> element). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

const loss: [number, number][] = Array.from({ length: 81 }, (_, i) => [i, 0.0074 + 0.05 * Math.exp(-i / 20)]);
const valid: [number, number][] = [
  [20, 0.21],
  [40, 0.16],
  [60, 0.15],
  [80, 0.146],
];

describe('charts', () => {
  it('puts loss and RMSE on separate panels with round ticks and a dashed baseline', async () => {
    const svg = await chartSvg(
      [
        { title: 'training loss', yLabel: 'MSE', series: [{ name: 'train loss', points: loss }] },
        {
          title: 'validation',
          yLabel: 'RMSE',
          series: [
            { name: 'valid RMSE', points: valid },
            { name: 'baseline', points: valid.map(([x]) => [x, 0.18]), dashed: true },
          ],
        },
      ],
      { title: 'training curves', xLabel: 'step' },
    );
    const labels = texts(svg);
    expect(labels).toEqual(expect.arrayContaining(['training loss', 'validation', 'MSE', 'RMSE', 'valid RMSE', 'baseline']));
    // Every numeric tick is a round number: at most two significant digits (not 40.8 or 7.4e-3).
    const ticks = labels.filter((t) => /^-?[\d.]+$/.test(t)).map(Number);
    expect(ticks.length).toBeGreaterThan(10);
    for (const t of ticks) expect(Number(t.toPrecision(2))).toBe(t);
    expect(ticks).toEqual(expect.arrayContaining([0, 20, 40, 60, 80]));
    expect(svg).toMatch(/stroke-dasharray="6,4"/);
  });

  it('draws a log axis with a marked suggestion and writes a PNG', async () => {
    const file = path.join(tmpDir(), 'lr.png');
    const points: [number, number][] = Array.from({ length: 50 }, (_, i) => [1e-6 * 10 ** (i / 10), 1 / (1 + i)]);
    await writeChart(file, [{ title: 'loss', yLabel: 'loss', series: [{ name: 'smoothed loss', points }] }], {
      title: 'LR finder',
      xLabel: 'learning rate',
      logX: true,
      marker: { x: 3e-4, label: 'suggested 3.00e-4' },
    });
    const meta = await sharp(file).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(600);
    const svg = await chartSvg([{ title: 'loss', yLabel: 'loss', series: [{ name: 'smoothed loss', points }] }], {
      title: 'LR finder',
      xLabel: 'learning rate',
      logX: true,
      marker: { x: 3e-4, label: 'suggested 3.00e-4' },
    });
    expect(texts(svg)).toEqual(expect.arrayContaining(['suggested 3.00e-4']));
  });
});
