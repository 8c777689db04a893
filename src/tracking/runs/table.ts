// Plain-text tables for `gzx runs list` and `gzx runs compare`.
import type { MetricPoint } from '../../framework/contracts.js';
import type { LocalRun } from './folder.js';
import { formatMetric } from '../../base/format-metric.js';

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Local date and time to the minute, e.g. 2026-11-28 10:33. */
export function formatDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function bestMetric(points: MetricPoint[], key: string, mode: 'min' | 'max' = 'min'): number | undefined {
  let best: number | undefined;
  for (const p of points) {
    if (p.key !== key || !Number.isFinite(p.value)) continue;
    if (best === undefined || (mode === 'min' ? p.value < best : p.value > best)) best = p.value;
  }
  return best;
}

/** The last value of each metric (highest step, then latest timestamp). */
export function finalMetrics(points: MetricPoint[]): Map<string, number> {
  const last = new Map<string, MetricPoint>();
  for (const p of points) {
    const cur = last.get(p.key);
    if (!cur || p.step > cur.step || (p.step === cur.step && p.timestamp >= cur.timestamp)) last.set(p.key, p);
  }
  return new Map([...last].map(([k, p]) => [k, p.value]));
}

export function backendOf(run: LocalRun): string {
  const fromSummary = (run.summary?.backend as { name?: string } | undefined)?.name;
  return run.meta.tags['gzx.backend'] ?? fromSummary ?? '-';
}

export function runsListTable(runs: LocalRun[]): string {
  const rows = runs.map((r) => [
    r.id,
    r.meta.runName ?? '-',
    r.meta.startTime ? formatDate(r.meta.startTime) : '-',
    r.meta.status,
    backendOf(r),
    formatMetric(bestMetric(r.metrics, 'valid_rmse')),
  ]);
  return formatTable(['ID', 'NAME', 'STARTED', 'STATUS', 'BACKEND', 'BEST VALID_RMSE'], rows);
}

export interface RunComparison {
  runs: string[];
  /** Params whose values are not all equal (undefined = the run has no such param). */
  params: { key: string; values: (string | undefined)[] }[];
  /** Final value of every metric any run logged. */
  metrics: { key: string; values: (number | undefined)[] }[];
}

// The headline numbers first, then the rest by name (q1, q2, … q10 in numeric order).
const METRIC_ORDER = ['valid_rmse', 'baseline_rmse', 'train_loss', 'epoch'];

export function compareRuns(runs: LocalRun[]): RunComparison {
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort(naturalCompare);
  const params = paramKeys
    .map((key) => ({ key, values: runs.map((r) => r.params[key]) }))
    .filter((p) => new Set(p.values.map((v) => v ?? '\u0000missing')).size > 1);
  const finals = runs.map((r) => finalMetrics(r.metrics));
  const best = runs.map((r) => bestMetric(r.metrics, 'valid_rmse'));
  const metricKeys = [...new Set(finals.flatMap((f) => [...f.keys()]))].sort((a, b) => {
    const ia = METRIC_ORDER.indexOf(a);
    const ib = METRIC_ORDER.indexOf(b);
    if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
    return naturalCompare(a, b);
  });
  const metrics = metricKeys.map((key) => ({ key, values: finals.map((f) => f.get(key)) }));
  if (best.some((b) => b !== undefined)) metrics.splice(1, 0, { key: 'best valid_rmse', values: best });
  return { runs: runs.map((r) => r.id), params, metrics };
}

export function compareTable(c: RunComparison): string {
  const parts: string[] = [];
  parts.push(
    c.params.length === 0
      ? 'Params: all equal.'
      : `Params that differ (${c.params.length}):\n` +
          formatTable(['PARAM', ...c.runs], c.params.map((p) => [p.key, ...p.values.map((v) => v ?? '(absent)')])),
  );
  parts.push(
    c.metrics.length === 0
      ? 'Final metrics: none logged.'
      : 'Final metrics:\n' + formatTable(['METRIC', ...c.runs], c.metrics.map((m) => [m.key, ...m.values.map(formatMetric)])),
  );
  return parts.join('\n\n');
}

function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
