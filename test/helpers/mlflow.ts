// A real MLflow server for one test file: installed on first use (scripts/mlflow-server.mjs),
// started on a free port with a throwaway SQLite store, stopped after the file.
// Under CI=true a server that cannot start fails the tests; locally they skip with a message.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { MetricPoint, RunInfo, RunLogger, RunStatus } from '../../src/framework/contracts.js';
import { LocalRunWriter } from '../../src/plugins/logger/local.js';
import { SeededRng } from '../../src/base/random.js';
import { flattenParams } from '../../src/framework/params.js';
// @ts-expect-error plain ESM script without type declarations
import { startMlflowServer, freePort } from '../../scripts/mlflow-server.mjs';

export interface TestMlflowServer {
  /** Current URI (stays the same across restart()). */
  readonly uri: string;
  readonly dir: string;
  /** SIGKILL the server, as a crash looks to clients. */
  kill(): Promise<void>;
  /** Start again on the same port and store. */
  restart(): Promise<void>;
}

interface Handle {
  uri: string;
  port: number;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Admin of an auth-enabled test server (MLflow's basic-auth app). */
export const TEST_AUTH = { username: 'admin', password: `gzx-test-${randomBytes(8).toString('hex')}` };

/**
 * Starts a server for the calling test file (call at top level with `await`).
 * Returns null when it cannot start outside CI, so the file can `describe.skipIf(!server)`.
 * With `auth`, the server requires HTTP Basic auth, and this process (and the CLI it spawns)
 * gets the credentials through MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.
 */
export async function startTestMlflowServer(opts: { auth?: boolean } = {}): Promise<TestMlflowServer | null> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gzx-mlflow-'));
  const log = (m: string) => process.stderr.write(`[mlflow test server] ${m}\n`);
  const auth = opts.auth ? TEST_AUTH : undefined;
  let handle: Handle;
  try {
    handle = (await startMlflowServer({ dir, log, auth })) as Handle;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    if (process.env.CI === 'true') throw new Error(`CI=true and the MLflow test server could not start: ${(e as Error).message}`);
    process.stderr.write(`\n*** Skipping MLflow integration tests: the server could not start (${(e as Error).message.split('\n')[0]}) ***\n\n`);
    return null;
  }
  const port = handle.port;
  const savedEnv = { user: process.env.MLFLOW_TRACKING_USERNAME, password: process.env.MLFLOW_TRACKING_PASSWORD };
  if (auth) {
    process.env.MLFLOW_TRACKING_USERNAME = auth.username;
    process.env.MLFLOW_TRACKING_PASSWORD = auth.password;
  }
  afterAll(async () => {
    if (auth) {
      restoreEnv('MLFLOW_TRACKING_USERNAME', savedEnv.user);
      restoreEnv('MLFLOW_TRACKING_PASSWORD', savedEnv.password);
    }
    await handle.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get uri() {
      return handle.uri;
    },
    dir,
    kill: () => handle.kill(),
    async restart() {
      await handle.stop();
      handle = (await startMlflowServer({ dir, port, log, auth })) as Handle;
    },
  };
}

/** A URI where nothing listens (for the unreachable-server case). */
export async function deadUri(): Promise<string> {
  return `http://127.0.0.1:${(await freePort()) as number}`;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** Basic auth from the environment, as the test server expects it (empty without credentials). */
export function authHeaders(): Record<string, string> {
  const { MLFLOW_TRACKING_USERNAME: u, MLFLOW_TRACKING_PASSWORD: p } = process.env;
  return u && p ? { Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` } : {};
}

/** Raw GET against the REST API, to check what the server holds without going through our client. */
export async function restGet<T = any>(uri: string, endpoint: string, query: Record<string, string>): Promise<T> {
  const url = new URL(`${uri}/api/2.0/mlflow/${endpoint}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: authHeaders() });
  if (!res.ok) throw new Error(`GET ${url} → ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function restPost<T = any>(uri: string, endpoint: string, body: unknown): Promise<T> {
  const res = await fetch(`${uri}/api/2.0/mlflow/${endpoint}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`POST ${endpoint} → ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Every point of a metric through raw REST (paginated), as [step, value, timestamp]. */
export async function restHistory(uri: string, runId: string, key: string): Promise<[number, number, number][]> {
  const out: [number, number, number][] = [];
  let token = '';
  do {
    const q: Record<string, string> = { run_id: runId, metric_key: key, max_results: '500' };
    if (token) q.page_token = token;
    const r = await restGet<{ metrics?: { step?: number; value: number | string; timestamp: number }[]; next_page_token?: string }>(
      uri,
      'metrics/get-history',
      q,
    );
    for (const m of r.metrics ?? []) out.push([Number(m.step ?? 0), m.value === 'NaN' ? NaN : Number(m.value), Number(m.timestamp)]);
    token = r.next_page_token ?? '';
  } while (token);
  return out.sort((a, b) => a[0] - b[0] || a[2] - b[2]);
}

// ---------- run folders as the engine writes them ----------

export interface FakeRunOptions {
  root: string;
  id: string;
  name?: string;
  seed?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  lr?: number;
  status?: RunStatus;
  /** Called after each epoch's points were handed to the loggers (e.g. to kill a server). */
  afterEpoch?: (epoch: number) => Promise<void> | void;
}

/** The RunInfo the engine would build for such a run (config flattened to params). */
export function fakeRunInfo(o: FakeRunOptions, startTime = Date.UTC(2026, 10, 28, 9, 0, 0)): RunInfo {
  const config = {
    name: o.name ?? 'quick',
    description: `A ${o.epochs ?? 3}-epoch test run`,
    seed: o.seed ?? 1,
    backbone: { use: 'simple-cnn', with: { width: 16 } },
    train: { batch_size: 32, lr: o.lr ?? 0.003, phases: [{ epochs: o.epochs ?? 3, freeze: 'none' }] },
    augment: [{ use: 'flip', with: {} }],
  };
  return {
    runId: o.id,
    runName: config.name,
    runDir: path.join(o.root, o.id),
    config,
    params: flattenParams(config),
    description: config.description,
    configPath: 'configs/quick.yaml',
    configHash: `hash-${o.seed ?? 1}-${o.lr ?? 0.003}`,
    tags: { 'gzx.version': '0.1.0', 'gzx.backend': 'wasm', 'gzx.config_hash': `hash-${o.seed ?? 1}-${o.lr ?? 0.003}`, 'gzx.run_id': o.id },
    startTime,
  };
}

/**
 * Drives loggers through a training run the way the engine does: start → setTags →
 * logMetrics per step and per epoch → model/plots written → logArtifact → end.
 * Returns every metric point handed out.
 */
export async function simulateTraining(loggers: RunLogger[], o: FakeRunOptions): Promise<{ info: RunInfo; points: MetricPoint[] }> {
  const info = fakeRunInfo(o);
  const epochs = o.epochs ?? 3;
  const steps = o.stepsPerEpoch ?? 50;
  const rng = new SeededRng(o.seed ?? 1);
  await mkdir(path.join(info.runDir, 'artifacts'), { recursive: true });
  await writeFile(path.join(info.runDir, 'config.yaml'), `name: ${info.runName}\nseed: ${o.seed ?? 1}\ntrain:\n  lr: ${o.lr ?? 0.003}\n`);
  for (const lg of loggers) await lg.start(info);
  for (const lg of loggers) await lg.setTags?.({ 'gzx.data_fingerprint': `fp-${o.seed ?? 1}` });
  const all: MetricPoint[] = [];
  let t = info.startTime;
  let step = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let s = 0; s < steps; s++) {
      step++;
      // A diverged step (NaN loss) must survive the trip too.
      const value = epoch === 1 && s === 3 ? NaN : 1 / (1 + 0.02 * step) + 0.01 * rng.next();
      const pts = [{ key: 'train_loss', value, step, timestamp: (t += 7) }];
      all.push(...pts);
      for (const lg of loggers) await lg.logMetrics(pts);
    }
    const rmse = 0.3 / epoch + 0.01 * rng.next();
    const epochPts: MetricPoint[] = [
      { key: 'valid_rmse', value: rmse, step, timestamp: (t += 1) },
      { key: 'baseline_rmse', value: 0.27, step, timestamp: t },
      { key: 'images_per_sec', value: 40 + rng.next(), step, timestamp: t },
      { key: 'epoch', value: epoch, step, timestamp: t },
      ...Array.from({ length: 11 }, (_, q) => ({ key: `valid_rmse_q${q + 1}`, value: rmse * (0.5 + q / 11), step, timestamp: t })),
    ];
    all.push(...epochPts);
    for (const lg of loggers) await lg.logMetrics(epochPts);
    await o.afterEpoch?.(epoch);
  }
  await mkdir(path.join(info.runDir, 'model'), { recursive: true });
  await writeFile(
    path.join(info.runDir, 'model', 'model.json'),
    JSON.stringify({ format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'] }] }),
  );
  await writeFile(path.join(info.runDir, 'model', 'weights.bin'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256)));
  // A tiny valid PNG stands in for the loss plot.
  await writeFile(
    path.join(info.runDir, 'artifacts', 'loss.png'),
    Buffer.from(
      '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
      'hex',
    ),
  );
  for (const a of ['config.yaml', 'model', 'artifacts/loss.png']) for (const lg of loggers) await lg.logArtifact?.(a);
  const status = o.status ?? 'FINISHED';
  const summary: Record<string, unknown> = {
    final: { valid_rmse: all.filter((p) => p.key === 'valid_rmse').at(-1)!.value },
    run_id: info.runId,
    status,
    ...(status === 'FAILED' ? { error: 'loss became NaN at step 7' } : {}),
    backend: { name: 'wasm' },
  };
  for (const lg of loggers) await lg.end(status, summary);
  return { info, points: all };
}

/** A finished run folder in the engine's format, written by the real `local` logger. */
export async function fabricateRunFolder(o: FakeRunOptions): Promise<{ info: RunInfo; points: MetricPoint[] }> {
  return simulateTraining([new LocalRunWriter()], o);
}
