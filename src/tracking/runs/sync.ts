// `gzx runs sync`: uploads to MLflow whatever a local run folder has and the server lacks.
// Idempotent: the server run is found by tag gzx.run_id, and only missing params, metric
// points (by key+step+timestamp+value), tags, artifacts and the final status are sent.
import type { MetricPoint } from '../../framework/contracts.js';
import { UserError } from '../../base/errors.js';
import { type MlflowClient, type MlflowRun, type Metric } from '../mlflow/client.js';
import { MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH, sanitiseKey, truncateValue } from '../mlflow/limits.js';
import { runTags } from '../mlflow/tags.js';
import { metricTags, mlflowArtifactPath, mlflowMetrics, mlflowParams, mlflowRunName } from '../mlflow/view.js';
import { type LocalRun, type MlflowLink, walkFiles, writeMlflowLink } from './folder.js';

/** What always goes up besides the paths the engine listed in meta.json `artifacts`. */
export const DEFAULT_ARTIFACTS = ['config.yaml', 'summary.json', 'model', 'artifacts'];

export interface SyncReport {
  localId: string;
  mlflowRunId: string;
  experimentId: string;
  created: boolean;
  params: number;
  metrics: number;
  tags: number;
  artifacts: number;
  /** Status set on the server, when it changed. */
  status?: string;
  /** Params the server holds with another value (MLflow params cannot change). */
  conflictingParams: string[];
}

export interface SyncOptions {
  experiment: string;
  log?: (message: string) => void;
}

/** What identifies a local run to the server. */
export interface RunIdentity {
  runId: string;
  runName: string;
  startTime: number;
  link: MlflowLink | null;
}

/**
 * Finds the server run of a local run: the one mlflow.json names (same server and experiment),
 * else the oldest run tagged gzx.run_id = <local id>, else a new one.
 */
export async function findOrCreateServerRun(
  client: MlflowClient,
  id: RunIdentity,
  experimentId: string,
): Promise<{ run: MlflowRun; created: boolean }> {
  const link = id.link;
  if (link && link.tracking_uri === client.trackingUri && link.experiment_id === experimentId) {
    const run = await client.getRun(link.run_id);
    if (run && run.lifecycleStage === 'active' && run.tags['gzx.run_id'] === id.runId) return { run, created: false };
  }
  const found = await client.searchRuns({
    experimentIds: [experimentId],
    filter: `tags.\`gzx.run_id\` = '${id.runId.replace(/'/g, "\\'")}'`,
    orderBy: ['attributes.start_time ASC'],
  });
  if (found.length > 0) return { run: found[0], created: false };
  const run = await client.createRun({
    experimentId,
    runName: id.runName,
    startTime: id.startTime,
    tags: { 'gzx.run_id': id.runId, 'mlflow.runName': id.runName },
  });
  return { run, created: true };
}

export async function syncRun(client: MlflowClient, local: LocalRun, opts: SyncOptions): Promise<SyncReport> {
  const log = opts.log ?? (() => undefined);
  const exp = await client.getOrCreateExperiment(opts.experiment);
  const { run: found, created } = await findOrCreateServerRun(
    client,
    { runId: local.meta.runId, runName: mlflowRunName(local.meta), startTime: local.meta.startTime, link: local.mlflow },
    exp.experimentId,
  );
  // Re-read so params/tags reflect the server's current state.
  const run = (await client.getRun(found.runId)) ?? found;
  const report: SyncReport = {
    localId: local.id,
    mlflowRunId: run.runId,
    experimentId: exp.experimentId,
    created,
    params: 0,
    metrics: 0,
    tags: 0,
    artifacts: 0,
    conflictingParams: [],
  };

  // Params: MLflow refuses to change a logged param, so only missing ones go up.
  const { params, conflicts } = diffParams(run.params, mlflowParams(local.params));
  report.conflictingParams = conflicts;
  if (report.conflictingParams.length > 0) {
    log(
      `${local.id}: the MLflow run ${run.runId} already has ${report.conflictingParams.length} param(s) with other values ` +
        `(${report.conflictingParams.slice(0, 3).join(', ')}${report.conflictingParams.length > 3 ? ', …' : ''}); MLflow params cannot change, so they are left as they are.`,
    );
  }

  const wantedTags = { ...runTags(local.meta, { user: local.meta.tags['mlflow.user'] }), ...metricTags(local.metrics) };
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(wantedTags)) {
    const current = run.tags[sanitiseKey(key)];
    // A run name chosen with the logger's run_name option stays.
    if (key === 'mlflow.runName' && current) continue;
    if (current !== truncateValue(value, MAX_TAG_VALUE_LENGTH)) tags[key] = value;
  }
  await client.logBatch(run.runId, { params, tags });
  report.params = Object.keys(params).length;
  report.tags = Object.keys(tags).length;

  report.metrics = await syncMetrics(client, run.runId, local.metrics);
  report.artifacts = await syncArtifacts(client, run, local.dir, [...DEFAULT_ARTIFACTS, ...(local.meta.artifacts ?? [])]);

  if (local.meta.status !== 'RUNNING' && (run.status !== local.meta.status || run.endTime === undefined)) {
    await client.updateRun(run.runId, { status: local.meta.status, endTime: local.meta.endTime ?? Date.now() });
    report.status = local.meta.status;
  }
  await writeMlflowLink(local.dir, { tracking_uri: client.trackingUri, experiment_id: exp.experimentId, run_id: run.runId });
  return report;
}

/** Params the server lacks, and those it holds with another value (which MLflow will not change). */
export function diffParams(server: Record<string, string>, local: Record<string, string>): { params: Record<string, string>; conflicts: string[] } {
  const params: Record<string, string> = {};
  const conflicts: string[] = [];
  for (const [key, value] of Object.entries(local)) {
    const k = sanitiseKey(key);
    const v = truncateValue(String(value), MAX_PARAM_VALUE_LENGTH);
    if (!(k in server)) params[key] = v;
    else if (server[k] !== v) conflicts.push(k);
  }
  return { params, conflicts };
}

/** Uploads the local points (as MLflow sees them: mlflowMetrics) the server's history lacks; returns how many went up. */
export async function syncMetrics(client: MlflowClient, runId: string, points: MetricPoint[]): Promise<number> {
  const byKey = new Map<string, Metric[]>();
  for (const p of mlflowMetrics(points)) {
    const key = sanitiseKey(p.key);
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key)!.push({ key, value: p.value, step: p.step, timestamp: p.timestamp });
  }
  const missing: Metric[] = [];
  for (const [key, local] of byKey) {
    const onServer = new Set((await client.getMetricHistory(runId, key)).map(pointId));
    for (const p of local) {
      const id = pointId(p);
      if (!onServer.has(id)) {
        missing.push(p);
        onServer.add(id); // the same point twice in metrics.jsonl goes up once
      }
    }
  }
  await client.logBatch(runId, { metrics: missing });
  return missing.length;
}

function pointId(m: Metric): string {
  return `${m.step}|${m.timestamp}|${Number.isNaN(m.value) ? 'NaN' : m.value}`;
}

/**
 * Uploads files under `relPaths` (files or folders, relative to the run folder) that the server
 * lacks or holds with another size, each at its mlflowArtifactPath. Returns how many files went up.
 */
export async function syncArtifacts(client: MlflowClient, run: MlflowRun, runDir: string, relPaths: string[]): Promise<number> {
  const wanted = new Map<string, number>();
  for (const rel of new Set(relPaths.map((p) => p.replace(/^\.?\/+/u, '').replace(/\/+$/u, '')).filter(Boolean))) {
    if (rel.split('/').includes('..')) throw new UserError(`${runDir}/meta.json lists artifact "${rel}" outside the run folder. Remove it from "artifacts".`);
    for (const f of await walkFiles(runDir, rel)) wanted.set(f.path, f.size);
  }
  if (wanted.size === 0) return 0;
  const onServer = new Map((await client.listArtifactsRecursive(run)).map((e) => [e.path, e.fileSize]));
  let uploaded = 0;
  for (const [rel, size] of wanted) {
    const dest = mlflowArtifactPath(rel);
    if (onServer.get(dest) === size) continue;
    await client.uploadArtifactPath(run, `${runDir}/${rel}`, dest);
    uploaded++;
  }
  return uploaded;
}

export function describeSync(r: SyncReport, trackingUri: string): string {
  const what = [
    `${r.params} param(s)`,
    `${r.metrics} metric point(s)`,
    `${r.tags} tag(s)`,
    `${r.artifacts} artifact file(s)`,
    ...(r.status ? [`status ${r.status}`] : []),
  ].join(', ');
  const nothing = r.params + r.metrics + r.tags + r.artifacts === 0 && !r.status && !r.created;
  return `${r.localId} → ${trackingUri}/#/experiments/${r.experimentId}/runs/${r.mlflowRunId}${r.created ? ' (new run)' : ''}: ${nothing ? 'already up to date' : `uploaded ${what}`}`;
}
