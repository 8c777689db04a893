// Line charts as PNG (loss curves, the LR finder). Drawn as SVG and rasterised by sharp, which the
// image pipeline already uses: a charting library would bring a canvas or a browser for a few lines.
import sharp from 'sharp';

export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  /** A vertical marker, e.g. the suggested learning rate. */
  marker?: { x: number; label: string };
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

export function lineChartSvg(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 800;
  const H = o.height ?? 500;
  const m = { l: 80, r: 30, t: 50, b: 60 };
  const fx = (x: number) => (o.logX ? Math.log10(x) : x);
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(fx(x)) && Number.isFinite(y));
  const xs = pts.map(([x]) => fx(x));
  const ys = pts.map(([, y]) => y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = (lo: number, hi: number, n: number) => Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : v.toPrecision(3));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="17">${esc(o.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  // On a log axis, ticks sit on whole decades.
  const xTicks = o.logX
    ? Array.from({ length: Math.floor(x1) - Math.ceil(x0) + 1 }, (_, i) => Math.ceil(x0) + i)
    : ticks(x0, x1, 5);
  for (const t of xTicks) {
    const x = m.l + ((t - x0) / (x1 - x0)) * (W - m.l - m.r);
    const label = o.logX ? `1e${t}` : fmt(t);
    parts.push(`<line x1="${x}" y1="${H - m.b}" x2="${x}" y2="${H - m.b + 5}" stroke="black"/>`);
    parts.push(`<text x="${x}" y="${H - m.b + 20}" text-anchor="middle">${label}</text>`);
  }
  for (const t of ticks(y0, y1, 5)) {
    parts.push(`<line x1="${m.l - 5}" y1="${py(t)}" x2="${m.l}" y2="${py(t)}" stroke="black"/>`);
    parts.push(`<text x="${m.l - 8}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
    parts.push(`<line x1="${m.l}" y1="${py(t)}" x2="${W - m.r}" y2="${py(t)}" stroke="#eee"/>`);
  }
  parts.push(`<text x="${W / 2}" y="${H - 15}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text x="18" y="${H / 2}" text-anchor="middle" transform="rotate(-90 18 ${H / 2})">${esc(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const d = s.points
      .filter(([x, y]) => Number.isFinite(fx(x)) && Number.isFinite(y))
      .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<rect x="${W - m.r - 170}" y="${m.t + 8 + i * 20}" width="14" height="4" fill="${color}"/>`);
    parts.push(`<text x="${W - m.r - 150}" y="${m.t + 14 + i * 20}">${esc(s.name)}</text>`);
  });
  if (o.marker && Number.isFinite(fx(o.marker.x))) {
    const x = px(o.marker.x);
    parts.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#d62728" stroke-dasharray="6,4"/>`);
    parts.push(`<text x="${x + 6}" y="${H - m.b - 10}" fill="#d62728">${esc(o.marker.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export async function writeLineChart(file: string, series: Series[], o: ChartOptions): Promise<void> {
  await sharp(Buffer.from(lineChartSvg(series, o))).png().toFile(file);
}
