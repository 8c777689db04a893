// How a run folder looks in MLflow: metric keys, which numbers are tags rather than charts, which
// params are worth a column, where artifacts go, and the run's name. The mlflow logger and
// `gzx runs sync` both go through here, so a run logged live and one synced later look alike.
// The run folder itself keeps its own keys (metrics.jsonl, params.json): this is a view on it.
import type { MetricPoint } from '../../framework/contracts.js';
import type { Metric } from './limits.js';

/**
 * Per-epoch numbers that are constant for a run or a phase: charts of them say nothing, so they go
 * up as tags holding the latest value (`gzx.epoch` shows how far a run got).
 */
export const METRICS_AS_TAGS: Record<string, string> = {
  epoch: 'gzx.epoch',
  phase: 'gzx.phase',
  size: 'gzx.size',
  baseline_rmse: 'gzx.baseline_rmse',
};

/**
 * The MLflow key of a local metric, or null when it becomes a tag (METRICS_AS_TAGS).
 * Per-question RMSEs group under their metric, zero-padded so they sort 1…11:
 * `valid_rmse_q3` → `valid_rmse/q03`.
 */
export function mlflowMetricKey(key: string): string | null {
  if (Object.hasOwn(METRICS_AS_TAGS, key)) return null;
  const q = /^(.*)_q(\d+)$/u.exec(key);
  return q ? `${q[1]}/q${q[2].padStart(2, '0')}` : key;
}

/** Local points as MLflow metric points (keys mapped, tag-like points left out). */
export function mlflowMetrics(points: MetricPoint[]): Metric[] {
  const out: Metric[] = [];
  for (const p of points) {
    const key = mlflowMetricKey(p.key);
    if (key !== null) out.push({ key, value: p.value, step: p.step, timestamp: p.timestamp });
  }
  return out;
}

/** Tags from the tag-like points: the value of the latest point (highest step, then time) of each. */
export function metricTags(points: MetricPoint[]): Record<string, string> {
  const latest = new Map<string, MetricPoint>();
  for (const p of points) {
    if (!Object.hasOwn(METRICS_AS_TAGS, p.key)) continue;
    const cur = latest.get(p.key);
    if (!cur || p.step > cur.step || (p.step === cur.step && p.timestamp >= cur.timestamp)) latest.set(p.key, p);
  }
  return Object.fromEntries([...latest].map(([key, p]) => [METRICS_AS_TAGS[key], String(p.value)]));
}

/**
 * The params worth a column in MLflow, from a run's params.json: not the loggers' own settings
 * (where the run was logged is no experiment parameter), no empty `plugins=[]`, no nulls (unset
 * options), and a phase's value only where it differs from what it inherits (`train.phases.0.lr`
 * equal to `train.lr`, a phase schedule equal to the top-level `schedule`).
 */
export function mlflowParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    if (key === 'logger' || key.startsWith('logger.')) continue;
    if (value === 'null' || (key === 'plugins' && value === '[]')) continue;
    const phase = /^train\.phases\.\d+\.(.+)$/u.exec(key);
    if (phase) {
      const inherited = phase[1].startsWith('schedule') ? phase[1] : `train.${phase[1]}`;
      if (params[inherited] === value) continue;
    }
    out[key] = value;
  }
  return out;
}

/**
 * Where a run-folder file goes among the run's MLflow artifacts. MLflow shows a run's files under
 * "Artifacts" already, so the run folder's `artifacts/` (plots, prediction grid) goes to the root
 * beside config.yaml, model/ and summary.json instead of showing as artifacts/artifacts/….
 */
export function mlflowArtifactPath(rel: string): string {
  return rel.startsWith('artifacts/') ? rel.slice('artifacts/'.length) : rel;
}

/** Tag a sweep puts on its trials: the trial's overrides, e.g. `lr=0.003,depth=18`. */
export const TRIAL_NAME_TAG = 'gzx.trial_name';

/**
 * The MLflow run name: a sweep trial's overrides, else the local run id (unique, and what
 * `gzx runs …` take), never the config's name, which every run of that config shares.
 */
export function mlflowRunName(src: { runId: string; tags: Record<string, string> }): string {
  return src.tags[TRIAL_NAME_TAG] || src.runId;
}
