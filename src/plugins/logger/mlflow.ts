// Logs a run to an MLflow tracking server while it trains. The local run folder stays the source
// of truth: if the server is unreachable or dies, this logger says so once and stops trying, and
// `gzx runs sync` uploads what is missing later.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { definePlugin, type OptionsOf, type PluginContext } from '../../framework/plugin.js';
import type { MetricPoint, RunInfo, RunLogger, RunStatus } from '../../framework/contracts.js';
import { UserError } from '../../base/errors.js';
import {
  MlflowApiError,
  MlflowClient,
  MlflowUnreachableError,
  normaliseTrackingUri,
  type Metric,
  type MlflowRun,
} from '../../tracking/mlflow/client.js';
import { runTags } from '../../tracking/mlflow/tags.js';
import { metricTags, mlflowMetrics, mlflowParams, mlflowRunName } from '../../tracking/mlflow/view.js';
import { type MlflowLink, writeMlflowLink } from '../../tracking/runs/folder.js';
import { DEFAULT_ARTIFACTS, diffParams, findOrCreateServerRun, syncArtifacts } from '../../tracking/runs/sync.js';

const mlflowOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tracking_uri: {
      type: 'string',
      minLength: 1,
      description: 'http(s)://host:port of the MLflow server; default: the MLFLOW_TRACKING_URI environment variable',
    },
    experiment: { type: 'string', minLength: 1, maxLength: 500, default: 'gzx', description: 'MLflow experiment name (created if missing)' },
    run_name: { type: 'string', minLength: 1, description: "MLflow run name; default: the experiment config's name" },
  },
} as const;

export type MlflowLoggerOptions = OptionsOf<typeof mlflowOptionsSchema>;

/** Metric points wait at most this long before going up (or until a full batch of 1000). */
const FLUSH_INTERVAL_MS = 2000;
const FULL_BATCH = 1000;
/** The first request at start waits this long, once: training must not wait on a silent server. */
const START_PROBE_MS = 3000;
/** end() waits at most this long for the last uploads, so a hanging server cannot hold the run. */
const END_WAIT_MS = 120_000;

export class MlflowRunLogger implements RunLogger {
  private readonly client: MlflowClient;
  /** The first request only: a server that takes connections but never answers is given up on quickly. */
  private readonly probe: MlflowClient;
  private run: MlflowRun | null = null;
  private info: RunInfo | null = null;
  private off = false;
  private chain: Promise<void> = Promise.resolve();
  private pending: Metric[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly requestedArtifacts: string[] = [];
  private readonly reported = new Set<string>();

  constructor(
    private readonly options: MlflowLoggerOptions & { tracking_uri: string },
    private readonly ctx: Pick<PluginContext, 'log' | 'configDir'>,
  ) {
    // Short timeouts and few retries: a dead server must not hold training up.
    this.client = new MlflowClient({
      trackingUri: options.tracking_uri,
      timeoutMs: 10_000,
      retries: 2,
      backoffMs: 250,
      warn: (m) => ctx.log(`mlflow: ${m}`),
    });
    this.probe = new MlflowClient({
      trackingUri: options.tracking_uri,
      timeoutMs: START_PROBE_MS,
      retries: 0,
      warn: (m) => ctx.log(`mlflow: ${m}`),
    });
  }

  /** The server run, once start() made or found one (null when MLflow logging is off). */
  get serverRun(): MlflowRun | null {
    return this.off ? null : this.run;
  }

  async start(info: RunInfo): Promise<void> {
    this.info = info;
    try {
      const exp = await this.probe.getOrCreateExperiment(this.options.experiment);
      const link = await readLink(info.runDir);
      const runName = this.options.run_name ?? mlflowRunName(info);
      // A resumed run (same local id) continues its server run.
      const { run } = await findOrCreateServerRun(this.client, { runId: info.runId, runName, startTime: info.startTime, link }, exp.experimentId);
      this.run = run;
      if (run.status !== 'RUNNING') await this.client.updateRun(run.runId, { status: 'RUNNING' });
      const tags = { ...runTags(info), 'mlflow.runName': runName };
      const { params, conflicts } = diffParams(run.params, mlflowParams(info.params));
      if (conflicts.length > 0) {
        this.ctx.log(`mlflow: the server run ${run.runId} already has other values for ${conflicts.join(', ')}; MLflow params cannot change.`);
      }
      await this.client.logBatch(run.runId, { params, tags });
      await writeMlflowLink(info.runDir, {
        tracking_uri: this.client.trackingUri,
        experiment_id: exp.experimentId,
        run_id: run.runId,
      });
      this.ctx.log(`mlflow: logging to ${this.client.trackingUri}/#/experiments/${exp.experimentId}/runs/${run.runId}`);
    } catch (e) {
      this.giveUp(e);
    }
  }

  setTags(tags: Record<string, string>): void {
    this.enqueue(() => this.client.logBatch(this.run!.runId, { tags }));
  }

  /** Params resolved during the run (e.g. `train.cache_images: auto` once the data is known). */
  logParams(params: Record<string, string>): void {
    this.enqueue(() => this.client.logBatch(this.run!.runId, { params: mlflowParams(params) }));
  }

  logMetrics(points: MetricPoint[]): void {
    if (this.off) return;
    const tags = metricTags(points);
    if (Object.keys(tags).length > 0) this.enqueue(() => this.client.logBatch(this.run!.runId, { tags }));
    this.pending.push(...mlflowMetrics(points));
    if (this.pending.length >= FULL_BATCH) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  logArtifact(relPath: string): void {
    this.requestedArtifacts.push(relPath);
    this.enqueue(async () => {
      await syncArtifacts(this.client, this.run!, this.info!.runDir, [relPath]);
    });
  }

  async end(status: RunStatus, summary: Record<string, unknown>): Promise<void> {
    this.flush();
    this.enqueue(async () => {
      const run = this.run!;
      // Written like the local logger writes summary.json, so a later sync sees the same file.
      await this.client.uploadArtifactBytes(run, 'summary.json', Buffer.from(JSON.stringify(summary, null, 2)));
      const others = DEFAULT_ARTIFACTS.filter((a) => a !== 'summary.json');
      await syncArtifacts(this.client, run, this.info!.runDir, [...others, ...this.requestedArtifacts]);
      if (typeof summary.error === 'string') await this.client.setTag(run.runId, 'gzx.error', summary.error);
      await this.client.updateRun(run.runId, { status, endTime: Date.now() });
    });
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.chain,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, END_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) this.giveUp(new Error(`the server did not take the last uploads within ${END_WAIT_MS / 1000} s`));
  }

  /** Sends the waiting metric points (in the background, in order). */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.enqueue(() => this.client.logBatch(this.run!.runId, { metrics: batch }));
  }

  /** Server calls run one after another so params, metrics and the final status arrive in order. */
  private enqueue(job: () => Promise<void>): void {
    if (this.off) return;
    this.chain = this.chain.then(async () => {
      if (this.off || !this.run) return;
      try {
        await job();
      } catch (e) {
        this.onError(e);
      }
    });
  }

  private onError(e: unknown): void {
    if (e instanceof MlflowUnreachableError || (e instanceof MlflowApiError && e.status >= 500)) {
      this.giveUp(e);
      return;
    }
    // A refused request (bad value, missing file) loses that item only; say it once per kind.
    const kind = e instanceof MlflowApiError ? e.errorCode : ((e as NodeJS.ErrnoException).code ?? 'error');
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    this.ctx.log(`mlflow: ${(e as Error).message} (logging goes on; the run folder keeps everything).`);
  }

  /** Turns MLflow logging off for the rest of the run, with one message. */
  private giveUp(e: unknown): void {
    if (this.off) return;
    this.off = true;
    this.pending = [];
    if (this.timer) clearTimeout(this.timer);
    const reason = e instanceof Error ? e.message : String(e);
    const id = this.info?.runId ?? '<run id>';
    this.ctx.log(
      `mlflow: ${reason.replace(/\.$/u, '')}. MLflow logging is off for the rest of this run; training goes on and the run folder keeps everything. ` +
        `Upload it later with \`gzx runs sync ${id} --to ${this.client.trackingUri} --experiment ${this.options.experiment}\`.`,
    );
  }
}

async function readLink(runDir: string): Promise<MlflowLink | null> {
  try {
    return JSON.parse(await readFile(path.join(runDir, 'mlflow.json'), 'utf8')) as MlflowLink;
  } catch {
    return null;
  }
}

export const mlflowLogger = definePlugin({
  name: 'mlflow',
  kind: 'logger',
  description: 'logs params, metrics, tags and artifacts to an MLflow tracking server (REST API)',
  optionsSchema: mlflowOptionsSchema,
  create(options, ctx): RunLogger {
    const uri = options.tracking_uri ?? process.env.MLFLOW_TRACKING_URI;
    if (!uri) {
      throw new UserError(
        'logger mlflow: no tracking URI. Set `with: {tracking_uri: http://127.0.0.1:5000}` on the mlflow logger or the MLFLOW_TRACKING_URI environment variable ' +
          '(`npm run mlflow:server` starts a local server and prints its URI).',
      );
    }
    return new MlflowRunLogger({ ...options, experiment: options.experiment ?? 'gzx', tracking_uri: normaliseTrackingUri(uri) }, ctx);
  },
});
