// A sweep in MLflow: a parent run (named by the sweep id) whose trials are child runs, tagged
// `mlflow.parentRunId` so the UI nests them. Only when the swept config logs to MLflow. Like the
// logger, a server that cannot be reached is said once and the sweep goes on without it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExperimentConfig } from '../../framework/experiment-config.js';
import type { MlflowLink } from '../../tracking/runs/folder.js';
import { writeMlflowLink } from '../../tracking/runs/folder.js';
import { MlflowClient, normaliseTrackingUri, type MlflowRun } from '../../tracking/mlflow/client.js';
import { sourceTags } from '../../tracking/mlflow/tags.js';
import type { SweepRecord, TrialRow } from './folder.js';
import { bestRow } from './folder.js';

export interface SweepParentRun {
  client: MlflowClient;
  run: MlflowRun;
}

/** The mlflow logger's server and experiment in the config, or null when it has none. */
function mlflowTarget(config: ExperimentConfig): { uri: string; experiment: string } | null {
  const ref = config.logger.find((l) => l.use === 'mlflow');
  if (!ref) return null;
  const uri = (ref.with.tracking_uri as string | undefined) ?? process.env.MLFLOW_TRACKING_URI;
  return uri ? { uri: normaliseTrackingUri(uri), experiment: (ref.with.experiment as string | undefined) ?? 'gzx' } : null;
}

/** Finds (re-run) or creates the sweep's parent run; null without MLflow or when the server cannot be reached. */
export async function openParentRun(
  sweepDir: string,
  record: SweepRecord,
  config: ExperimentConfig,
  configDir: string,
  log: (m: string) => void,
): Promise<SweepParentRun | null> {
  const target = mlflowTarget(config);
  if (!target) return null;
  const client = new MlflowClient({ trackingUri: target.uri, timeoutMs: 10_000, retries: 2, backoffMs: 250, warn: (m) => log(`mlflow: ${m}`) });
  try {
    const exp = await client.getOrCreateExperiment(target.experiment);
    const link = await readLink(sweepDir);
    let run = link && link.tracking_uri === client.trackingUri && link.experiment_id === exp.experimentId ? await client.getRun(link.run_id) : null;
    if (run && run.lifecycleStage !== 'active') run = null;
    if (!run) {
      run = await client.createRun({
        experimentId: exp.experimentId,
        runName: record.id,
        tags: {
          'mlflow.runName': record.id,
          'mlflow.source.name': record.config,
          'mlflow.source.type': 'LOCAL',
          'mlflow.note.content': `Sweep of ${record.trials.length} trial(s) over ${Object.keys(record.params).join(', ')} (${record.method}).`,
          'gzx.sweep_id': record.id,
          'gzx.config_name': record.name,
          ...sourceTags(configDir),
        },
      });
      const params: Record<string, string> = { 'sweep.method': record.method, 'sweep.trials': String(record.trials.length) };
      for (const [k, v] of Object.entries(record.params)) params[`sweep.${k}`] = v;
      await client.logBatch(run.runId, { params });
      await writeMlflowLink(sweepDir, { tracking_uri: client.trackingUri, experiment_id: exp.experimentId, run_id: run.runId });
    } else {
      await client.updateRun(run.runId, { status: 'RUNNING' });
    }
    log(`mlflow: sweep ${record.id} is run ${client.trackingUri}/#/experiments/${exp.experimentId}/runs/${run.runId}; its trials are child runs`);
    return { client, run };
  } catch (e) {
    log(`mlflow: ${(e as Error).message.replace(/\.$/u, '')}. The sweep goes on without its MLflow parent run; its trials log as their config says.`);
    return null;
  }
}

/** The sweep's result on its parent run: best RMSE, counts, the summary files, the final status. */
export async function closeParentRun(
  parent: SweepParentRun,
  sweepDir: string,
  rows: TrialRow[],
  status: 'FINISHED' | 'FAILED' | 'KILLED',
  log: (m: string) => void,
): Promise<void> {
  try {
    const now = Date.now();
    const best = bestRow(rows);
    const metrics = [
      { key: 'trials_finished', value: rows.filter((r) => r.status === 'FINISHED').length, step: 0, timestamp: now },
      { key: 'trials_failed', value: rows.filter((r) => r.status === 'FAILED' || r.status === 'KILLED').length, step: 0, timestamp: now },
      ...(best ? [{ key: 'best_valid_rmse', value: best.best_valid_rmse!, step: 0, timestamp: now }] : []),
    ];
    await parent.client.logBatch(parent.run.runId, { metrics, tags: best ? { 'gzx.best_trial': best.name } : {} });
    for (const f of ['sweep.yaml', 'summary.csv', 'summary.json']) {
      await parent.client.uploadArtifactBytes(parent.run, f, await fs.readFile(path.join(sweepDir, f)));
    }
    await parent.client.updateRun(parent.run.runId, { status, endTime: Date.now() });
  } catch (e) {
    log(`mlflow: could not close the sweep's parent run (${(e as Error).message}); the sweep folder has everything.`);
  }
}

async function readLink(dir: string): Promise<MlflowLink | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'mlflow.json'), 'utf8')) as MlflowLink;
  } catch {
    return null;
  }
}
