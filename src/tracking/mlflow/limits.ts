// MLflow's server-side limits (mlflow/utils/validation.py) and the key rules it enforces.
// A request that breaks them is rejected whole, so we split and sanitise before sending.

export const MAX_METRICS_PER_BATCH = 1000;
export const MAX_PARAMS_PER_BATCH = 100;
export const MAX_TAGS_PER_BATCH = 100;
export const MAX_ENTITIES_PER_BATCH = 1000;
/** The server refuses log-batch bodies over 1 MB; stay a little under for JSON overhead. */
export const MAX_BATCH_BYTES = 1_000_000 - 10_000;
export const MAX_PARAM_VALUE_LENGTH = 6000;
export const MAX_TAG_VALUE_LENGTH = 8000;
export const MAX_KEY_LENGTH = 250;

/** Letters, digits, `_ - . / space :` — MLflow's `_VALID_PARAM_AND_METRIC_NAMES` on POSIX. */
const ALLOWED_KEY = /^[\w\-./ :]*$/u;

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface Param {
  key: string;
  value: string;
}

export interface Tag {
  key: string;
  value: string;
}

/**
 * Makes a key acceptable to MLflow: disallowed characters become `_`, and path-like
 * forms the server rejects (`a//b`, `./a`, `a/`, `..`) are normalised. Returns the key
 * unchanged when it is already valid, so callers can tell whether anything changed.
 */
export function sanitiseKey(key: string): string {
  let out = key.replace(/[^\w\-./ :]/gu, '_');
  // The server checks posixpath.normpath(key) == key: no empty, `.` or `..` segments, no trailing `/`.
  out = out
    .split('/')
    .map((seg) => (seg === '.' || seg === '..' ? seg.replace(/\./g, '_') : seg))
    .filter((seg, i, all) => seg !== '' || (i === 0 && all.length === 1))
    .join('/');
  // normpath must not start with `..` either (`..x` would look like a parent folder).
  out = out.replace(/^\.\./u, '__');
  if (out === '') out = '_';
  if (out.length > MAX_KEY_LENGTH) out = out.slice(0, MAX_KEY_LENGTH);
  return out;
}

export function isValidKey(key: string): boolean {
  return ALLOWED_KEY.test(key) && sanitiseKey(key) === key;
}

/** MLflow stores at most this many characters; longer values are cut with a visible marker. */
export function truncateValue(value: string, max: number): string {
  if (value.length <= max) return value;
  const marker = '…[truncated]';
  return value.slice(0, max - marker.length) + marker;
}

export interface BatchPart {
  metrics: Metric[];
  params: Param[];
  tags: Tag[];
}

/** JSON number encoding that protobuf accepts for NaN and ±Infinity (JSON.stringify would write null). */
export function metricJson(m: Metric): string {
  const v = Number.isFinite(m.value) ? String(m.value) : Number.isNaN(m.value) ? '"NaN"' : m.value > 0 ? '"Infinity"' : '"-Infinity"';
  return `{"key":${JSON.stringify(m.key)},"value":${v},"timestamp":${Math.trunc(m.timestamp)},"step":${Math.trunc(m.step)}}`;
}

/**
 * Splits metrics, params and tags into log-batch requests that each respect the per-kind counts,
 * the total entity count and the byte limit.
 */
export function splitBatch(metrics: Metric[], params: Param[], tags: Tag[]): BatchPart[] {
  const parts: BatchPart[] = [];
  let cur: BatchPart = { metrics: [], params: [], tags: [] };
  let bytes = 0;
  const flush = () => {
    if (cur.metrics.length + cur.params.length + cur.tags.length > 0) parts.push(cur);
    cur = { metrics: [], params: [], tags: [] };
    bytes = 0;
  };
  const add = (kind: 'metrics' | 'params' | 'tags', item: Metric | Param, size: number, kindMax: number) => {
    const total = cur.metrics.length + cur.params.length + cur.tags.length;
    if (cur[kind].length >= kindMax || total >= MAX_ENTITIES_PER_BATCH || bytes + size > MAX_BATCH_BYTES) flush();
    (cur[kind] as (Metric | Param)[]).push(item);
    bytes += size + 1;
  };
  for (const p of params) add('params', p, JSON.stringify(p).length, MAX_PARAMS_PER_BATCH);
  for (const t of tags) add('tags', t, JSON.stringify(t).length, MAX_TAGS_PER_BATCH);
  for (const m of metrics) add('metrics', m, metricJson(m).length, MAX_METRICS_PER_BATCH);
  flush();
  return parts;
}

/** Parses a metric value as the server returns it (numbers, or "NaN"/"Infinity" strings). */
export function parseMetricValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return Number(v);
}
