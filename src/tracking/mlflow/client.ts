// A small typed client for MLflow's REST API 2.0 over fetch.
// Written here because no maintained JS client exists: the npm `mlflow` package was abandoned in
// 2019 and cannot upload artifacts, and the official TS SDK only covers GenAI tracing.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../base/errors.js';
import {
  MAX_PARAM_VALUE_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  type Metric,
  type Param,
  type Tag,
  metricJson,
  parseMetricValue,
  sanitiseKey,
  splitBatch,
  truncateValue,
} from './limits.js';

export type { Metric, Param, Tag } from './limits.js';

export type MlflowRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
}

export interface MlflowRun {
  runId: string;
  runName: string;
  experimentId: string;
  status: MlflowRunStatus;
  startTime: number;
  endTime?: number;
  artifactUri: string;
  lifecycleStage: string;
  /** Latest value per metric key only; use getMetricHistory for every point. */
  metrics: Metric[];
  params: Record<string, string>;
  tags: Record<string, string>;
}

export interface ArtifactEntry {
  /** Path relative to the run's artifact root. */
  path: string;
  isDir: boolean;
  fileSize?: number;
}

export interface MlflowClientOptions {
  trackingUri: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Extra tries after a connection error, timeout or 5xx. */
  retries?: number;
  /** First retry delay; doubles each try. */
  backoffMs?: number;
  /** Where credentials come from (MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD). */
  env?: NodeJS.ProcessEnv;
  /** Receives one-off notices (renamed keys, truncated values). */
  warn?: (message: string) => void;
}

/** The server did not answer (refused, timed out, DNS) even after retries. */
export class MlflowUnreachableError extends UserError {
  constructor(
    public readonly trackingUri: string,
    reason: string,
  ) {
    super(
      `Cannot reach the MLflow server at ${trackingUri} (${reason}). ` +
        `Start one with \`npm run mlflow:server\` or fix the tracking URI (--to, tracking_uri or MLFLOW_TRACKING_URI).`,
    );
  }
}

/** The server answered with an error (4xx, or 5xx after retries). */
export class MlflowApiError extends UserError {
  constructor(
    message: string,
    public readonly status: number,
    public readonly errorCode: string,
  ) {
    super(message);
  }
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export class MlflowClient {
  readonly trackingUri: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly authHeader: string | undefined;
  private readonly warn: (message: string) => void;
  private readonly warnedKeys = new Set<string>();

  constructor(options: MlflowClientOptions) {
    this.trackingUri = normaliseTrackingUri(options.trackingUri);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 500;
    this.authHeader = authHeaderFrom(options.env ?? process.env);
    this.warn = options.warn ?? ((m) => process.stderr.write(`gzx: ${m}\n`));
  }

  // ---------- transport ----------

  /** One API call with retries; returns the parsed JSON body. */
  private async call<T>(method: 'GET' | 'POST', endpoint: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    const url = new URL(`${this.trackingUri}/api/2.0/mlflow/${endpoint}`);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const res = await this.send(method, url, payload, payload ? 'application/json' : undefined);
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** fetch with timeout, retries on connection errors and 5xx, and 4xx turned into MlflowApiError. */
  private async send(method: string, url: URL, body?: string | Buffer, contentType?: string, timeoutMs = this.timeoutMs): Promise<Response> {
    let lastReason = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      let res: Response;
      try {
        const headers: Record<string, string> = {};
        if (contentType) headers['Content-Type'] = contentType;
        if (this.authHeader) headers.Authorization = this.authHeader;
        // A Buffer is a Uint8Array, which fetch accepts; the DOM typings just do not say so.
        const init: RequestInit = { method, headers, body: body as BodyInit | undefined, signal: AbortSignal.timeout(timeoutMs) };
        res = await fetch(url, init);
      } catch (e) {
        // Only network trouble is the server's fault; anything else is a bug to see as it is.
        if (!isNetworkError(e)) throw e;
        lastReason = connectionReason(e, timeoutMs);
        if (isRetryableFetchError(e)) continue;
        throw new MlflowUnreachableError(this.trackingUri, lastReason);
      }
      if (res.ok) return res;
      const text = await res.text().catch(() => '');
      let errorCode = `HTTP_${res.status}`;
      let message = text.split('\n')[0].slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error_code?: string; message?: string };
        if (parsed.error_code) errorCode = parsed.error_code;
        // The server sometimes appends whole SQL statements; the first lines say enough.
        if (parsed.message) message = parsed.message.split('\n')[0].slice(0, 400);
      } catch {
        // Not JSON (a proxy's HTML page, say): keep the raw text.
      }
      if (res.status >= 500) {
        lastReason = `HTTP ${res.status} ${errorCode}: ${message}`;
        if (attempt < this.retries) continue;
        throw new MlflowApiError(
          `The MLflow server at ${this.trackingUri} failed on ${method} ${url.pathname} after ${this.retries + 1} tries: ${lastReason}. Check the server's log.`,
          res.status,
          errorCode,
        );
      }
      throw new MlflowApiError(
        `The MLflow server at ${this.trackingUri} refused ${method} ${url.pathname}: ${errorCode}: ${message}.${hintFor(res.status, errorCode)}`,
        res.status,
        errorCode,
      );
    }
    throw new MlflowUnreachableError(this.trackingUri, `${lastReason}; tried ${this.retries + 1} times`);
  }

  // ---------- experiments ----------

  async getExperimentByName(name: string): Promise<Experiment | null> {
    try {
      const r = await this.call<{ experiment: RawExperiment }>('GET', 'experiments/get-by-name', undefined, { experiment_name: name });
      return toExperiment(r.experiment);
    } catch (e) {
      if (e instanceof MlflowApiError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw e;
    }
  }

  async createExperiment(name: string): Promise<string> {
    const r = await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name });
    return String(r.experiment_id);
  }

  /** The active experiment of that name, created if missing (a concurrent create is tolerated). */
  async getOrCreateExperiment(name: string): Promise<Experiment> {
    let exp = await this.getExperimentByName(name);
    if (!exp) {
      try {
        await this.createExperiment(name);
      } catch (e) {
        // Another process created it between our read and our create: read it again.
        if (!(e instanceof MlflowApiError && e.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw e;
      }
      exp = await this.getExperimentByName(name);
      if (!exp) throw new UserError(`MLflow experiment "${name}" could not be created on ${this.trackingUri}.`);
    }
    if (exp.lifecycleStage === 'deleted') {
      throw new UserError(
        `MLflow experiment "${name}" on ${this.trackingUri} is deleted. Restore it in the MLflow UI or choose another experiment name.`,
      );
    }
    return exp;
  }

  // ---------- runs ----------

  async createRun(args: {
    experimentId: string;
    runName?: string;
    startTime?: number;
    tags?: Record<string, string>;
    userId?: string;
  }): Promise<MlflowRun> {
    const tags = this.cleanTags(args.tags ?? {});
    const r = await this.call<{ run: RawRun }>('POST', 'runs/create', {
      experiment_id: args.experimentId,
      run_name: args.runName,
      start_time: args.startTime ?? Date.now(),
      user_id: args.userId,
      tags,
    });
    return toRun(r.run);
  }

  async updateRun(runId: string, update: { status?: MlflowRunStatus; endTime?: number; runName?: string }): Promise<void> {
    await this.call('POST', 'runs/update', {
      run_id: runId,
      status: update.status,
      end_time: update.endTime,
      run_name: update.runName,
    });
  }

  /** The run, or null when the server has no such run. */
  async getRun(runId: string): Promise<MlflowRun | null> {
    try {
      const r = await this.call<{ run: RawRun }>('GET', 'runs/get', undefined, { run_id: runId });
      return toRun(r.run);
    } catch (e) {
      if (e instanceof MlflowApiError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw e;
    }
  }

  /** Every matching run (all pages). `filter` uses MLflow's search syntax. */
  async searchRuns(args: { experimentIds: string[]; filter?: string; orderBy?: string[] }): Promise<MlflowRun[]> {
    const out: MlflowRun[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.call<{ runs?: RawRun[]; next_page_token?: string }>('POST', 'runs/search', {
        experiment_ids: args.experimentIds,
        filter: args.filter ?? '',
        max_results: 1000,
        order_by: args.orderBy,
        page_token: pageToken,
      });
      for (const raw of r.runs ?? []) out.push(toRun(raw));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    const [tag] = this.cleanTags({ [key]: value });
    await this.call('POST', 'runs/set-tag', { run_id: runId, key: tag.key, value: tag.value });
  }

  /**
   * log-batch, split to respect the server's limits (1000 metrics, 100 params, 100 tags,
   * 1000 entities, 1 MB). Keys MLflow does not allow are renamed (see `sanitiseKey`).
   */
  async logBatch(
    runId: string,
    batch: { metrics?: Metric[]; params?: Record<string, string> | Param[]; tags?: Record<string, string> | Tag[] },
  ): Promise<void> {
    const metrics = (batch.metrics ?? []).map((m) => ({ ...m, key: this.cleanKey(m.key) }));
    const params = this.cleanParams(batch.params ?? []);
    const tags = this.cleanTags(batch.tags ?? []);
    for (const part of splitBatch(metrics, params, tags)) {
      // Hand-built JSON so NaN/Infinity metric values survive (JSON.stringify would write null).
      const body =
        `{"run_id":${JSON.stringify(runId)},"metrics":[${part.metrics.map(metricJson).join(',')}],` +
        `"params":${JSON.stringify(part.params)},"tags":${JSON.stringify(part.tags)}}`;
      await this.call('POST', 'runs/log-batch', body);
    }
  }

  /** Every recorded point of one metric, in server order (all pages). */
  async getMetricHistory(runId: string, key: string, pageSize = 25_000): Promise<Metric[]> {
    const out: Metric[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = { run_id: runId, metric_key: this.cleanKey(key), max_results: String(pageSize) };
      if (pageToken) query.page_token = pageToken;
      const r = await this.call<{ metrics?: RawMetric[]; next_page_token?: string }>('GET', 'metrics/get-history', undefined, query);
      for (const m of r.metrics ?? []) out.push(toMetric(m));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  // ---------- artifacts (through the server's artifact proxy) ----------

  /** `<experiment_id>/<run_id>/artifacts` — the run's root below /api/2.0/mlflow-artifacts/artifacts. */
  artifactRoot(run: Pick<MlflowRun, 'artifactUri' | 'runId'>): string {
    const m = /^mlflow-artifacts:(?:\/\/[^/]+)?\/*(.*)$/u.exec(run.artifactUri);
    if (!m) {
      throw new UserError(
        `MLflow run ${run.runId} keeps its artifacts at ${run.artifactUri}, which gzx cannot reach through ${this.trackingUri}. ` +
          `Start the server with --serve-artifacts (npm run mlflow:server does) and use a new experiment.`,
      );
    }
    return m[1].replace(/\/+$/u, '');
  }

  private artifactUrl(run: Pick<MlflowRun, 'artifactUri' | 'runId'>, relPath: string): URL {
    const full = [this.artifactRoot(run), ...relPath.split('/').filter(Boolean)].map(encodeURIComponent).join('/');
    return new URL(`${this.trackingUri}/api/2.0/mlflow-artifacts/artifacts/${full}`);
  }

  async uploadArtifactBytes(run: Pick<MlflowRun, 'artifactUri' | 'runId'>, relPath: string, data: Buffer): Promise<void> {
    // Big files get time in proportion (at least 1 MB/s) on top of the usual timeout.
    await this.send('PUT', this.artifactUrl(run, relPath), data, 'application/octet-stream', this.timeoutMs + Math.ceil(data.length / 1000));
  }

  /**
   * Uploads a file or a whole folder from disk to `destPath` under the run's artifacts.
   * Returns the artifact paths written.
   */
  async uploadArtifactPath(run: Pick<MlflowRun, 'artifactUri' | 'runId'>, localPath: string, destPath: string): Promise<string[]> {
    const st = await stat(localPath);
    if (!st.isDirectory()) {
      await this.uploadArtifactBytes(run, destPath, await readFile(localPath));
      return [destPath];
    }
    const written: string[] = [];
    for (const entry of await readdir(localPath, { withFileTypes: true })) {
      const child = path.join(localPath, entry.name);
      const dest = destPath ? `${destPath}/${entry.name}` : entry.name;
      if (entry.isDirectory() || entry.isFile()) written.push(...(await this.uploadArtifactPath(run, child, dest)));
    }
    return written;
  }

  /** Direct children of `relPath` ('' = the run's artifact root). */
  async listArtifacts(run: Pick<MlflowRun, 'artifactUri' | 'runId'>, relPath = ''): Promise<ArtifactEntry[]> {
    const root = this.artifactRoot(run);
    const url = new URL(`${this.trackingUri}/api/2.0/mlflow-artifacts/artifacts`);
    url.searchParams.set('path', relPath ? `${root}/${relPath}` : root);
    const res = await this.send('GET', url);
    const body = (await res.json()) as { files?: { path: string; is_dir?: boolean; file_size?: number | string }[] };
    return (body.files ?? []).map((f) => ({
      path: relPath ? `${relPath}/${f.path}` : f.path,
      isDir: Boolean(f.is_dir),
      fileSize: f.file_size === undefined ? undefined : Number(f.file_size),
    }));
  }

  /** Every file below `relPath`, folders expanded. */
  async listArtifactsRecursive(run: Pick<MlflowRun, 'artifactUri' | 'runId'>, relPath = ''): Promise<ArtifactEntry[]> {
    const out: ArtifactEntry[] = [];
    for (const e of await this.listArtifacts(run, relPath)) {
      if (e.isDir) out.push(...(await this.listArtifactsRecursive(run, e.path)));
      else out.push(e);
    }
    return out;
  }

  async downloadArtifact(run: Pick<MlflowRun, 'artifactUri' | 'runId'>, relPath: string): Promise<Buffer> {
    const res = await this.send('GET', this.artifactUrl(run, relPath));
    return Buffer.from(await res.arrayBuffer());
  }

  // ---------- key and value hygiene ----------

  /** The key as MLflow will store it (announces each renamed key once). */
  cleanKey(key: string): string {
    const clean = sanitiseKey(key);
    if (clean !== key && !this.warnedKeys.has(key)) {
      this.warnedKeys.add(key);
      this.warn(`MLflow does not allow the key "${key}"; it is logged as "${clean}" (letters, digits, _ - . / : and space only).`);
    }
    return clean;
  }

  private cleanParams(params: Record<string, string> | Param[]): Param[] {
    const list = Array.isArray(params) ? params : Object.entries(params).map(([key, value]) => ({ key, value }));
    return list.map(({ key, value }) => {
      const k = this.cleanKey(key);
      if (value.length > MAX_PARAM_VALUE_LENGTH)
        this.warnOnce(`param:${k}`, `MLflow keeps at most ${MAX_PARAM_VALUE_LENGTH} characters of a param value; "${k}" is truncated.`);
      return { key: k, value: truncateValue(value, MAX_PARAM_VALUE_LENGTH) };
    });
  }

  private cleanTags(tags: Record<string, string> | Tag[]): Tag[] {
    const list = Array.isArray(tags) ? tags : Object.entries(tags).map(([key, value]) => ({ key, value }));
    return list.map(({ key, value }) => {
      const k = this.cleanKey(key);
      if (value.length > MAX_TAG_VALUE_LENGTH)
        this.warnOnce(`tag:${k}`, `MLflow keeps at most ${MAX_TAG_VALUE_LENGTH} characters of a tag value; "${k}" is truncated.`);
      return { key: k, value: truncateValue(value, MAX_TAG_VALUE_LENGTH) };
    });
  }

  private warnOnce(id: string, message: string): void {
    if (this.warnedKeys.has(id)) return;
    this.warnedKeys.add(id);
    this.warn(message);
  }
}

// ---------- helpers ----------

/** Accepts `http(s)://host:port[/prefix]`; anything else is a user mistake. */
export function normaliseTrackingUri(uri: string): string {
  const trimmed = uri.trim().replace(/\/+$/u, '');
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new UserError(`"${uri}" is not an MLflow tracking URI. Use http://host:port, e.g. http://127.0.0.1:5000.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UserError(
      `MLflow tracking URI "${uri}" uses ${parsed.protocol} — gzx talks to an MLflow server over http(s) only. Use http://host:port (start one with \`npm run mlflow:server\`).`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new UserError(
      `Put MLflow credentials in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), not in the tracking URI.`,
    );
  }
  return trimmed;
}

function authHeaderFrom(env: NodeJS.ProcessEnv): string | undefined {
  if (env.MLFLOW_TRACKING_TOKEN) return `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
  if (env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD) {
    return `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD}`).toString('base64')}`;
  }
  return undefined;
}

function hintFor(status: number, code: string): string {
  if (status === 401 || status === 403) return ' Check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.';
  if (status === 404 && code === 'ENDPOINT_NOT_FOUND') return ' Is this an MLflow server of version 2 or later?';
  if (status === 404) return ' Is the tracking URI an MLflow server (npm run mlflow:server prints one)?';
  return '';
}

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function isNetworkError(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  // undici reports network failures as TypeError('fetch failed') with the system error as cause.
  return name === 'TimeoutError' || name === 'AbortError' || (e instanceof TypeError && (e as { cause?: unknown }).cause !== undefined);
}

function isRetryableFetchError(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return true;
  const code = errorCode(e);
  return code === undefined || RETRYABLE_CODES.has(code) || code.startsWith('UND_ERR');
}

function connectionReason(e: unknown, timeoutMs: number): string {
  const name = (e as { name?: string }).name;
  if (name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const code = errorCode(e);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return code ?? (e as Error).message ?? String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface RawExperiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
}
interface RawMetric {
  key: string;
  value: unknown;
  timestamp: number | string;
  step?: number | string;
}
interface RawRun {
  info: {
    run_id?: string;
    run_uuid?: string;
    run_name?: string;
    experiment_id: string;
    status?: MlflowRunStatus;
    start_time?: number | string;
    end_time?: number | string;
    artifact_uri?: string;
    lifecycle_stage?: string;
  };
  data?: { metrics?: RawMetric[]; params?: Param[]; tags?: Tag[] };
}

function toExperiment(e: RawExperiment): Experiment {
  return {
    experimentId: String(e.experiment_id),
    name: e.name,
    artifactLocation: e.artifact_location ?? '',
    lifecycleStage: e.lifecycle_stage ?? 'active',
  };
}

function toMetric(m: RawMetric): Metric {
  return { key: m.key, value: parseMetricValue(m.value), timestamp: Number(m.timestamp), step: Number(m.step ?? 0) };
}

function toRun(r: RawRun): MlflowRun {
  return {
    runId: r.info.run_id ?? r.info.run_uuid ?? '',
    runName: r.info.run_name ?? '',
    experimentId: String(r.info.experiment_id),
    status: r.info.status ?? 'RUNNING',
    startTime: Number(r.info.start_time ?? 0),
    endTime: r.info.end_time === undefined ? undefined : Number(r.info.end_time),
    artifactUri: r.info.artifact_uri ?? '',
    lifecycleStage: r.info.lifecycle_stage ?? 'active',
    metrics: (r.data?.metrics ?? []).map(toMetric),
    params: Object.fromEntries((r.data?.params ?? []).map((p) => [p.key, p.value])),
    tags: Object.fromEntries((r.data?.tags ?? []).map((t) => [t.key, t.value])),
  };
}
