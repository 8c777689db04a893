// gzx against a REAL MLflow server (scripts/mlflow-server.mjs): the client, the mlflow logger
// driven like the engine drives it, a server killed mid-run, and `runs sync`.
// What arrived is checked through raw REST calls, not through our client.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { MlflowApiError, MlflowClient } from '../../src/tracking/mlflow/client.js';
import { UserError } from '../../src/base/errors.js';
import { LocalRunWriter } from '../../src/plugins/logger/local.js';
import { MlflowRunLogger, mlflowLogger } from '../../src/plugins/logger/mlflow.js';
import { readRunFolder } from '../../src/tracking/runs/folder.js';
import { syncRun } from '../../src/tracking/runs/sync.js';
import type { PluginContext } from '../../src/framework/plugin.js';
import { mlflowMetricKey, mlflowMetrics, mlflowParams } from '../../src/tracking/mlflow/view.js';
import {
  TEST_AUTH,
  authHeaders,
  deadUri,
  fakeRunInfo,
  restGet,
  restHistory,
  restPost,
  simulateTraining,
  startTestMlflowServer,
} from '../helpers/mlflow.js';
import { REPO, BIN } from '../helpers/paths.js';
import { tinyExperimentYaml } from '../helpers/tiny-config.js';

// The server requires HTTP Basic auth, so every call below also proves the credentials travel.
const server = await startTestMlflowServer({ auth: true });

const tmp = await mkdtemp(path.join(os.tmpdir(), 'gzx-mlflow-runs-'));
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function quietClient(uri: string, notes: string[] = []): MlflowClient {
  return new MlflowClient({ trackingUri: uri, warn: (m) => notes.push(m) });
}

/** A plugin context like the engine's, recording what the logger says. */
function loggerCtx(messages: string[]): Pick<PluginContext, 'log' | 'configDir'> {
  return { log: (m: string) => messages.push(m), configDir: REPO };
}

async function serverRunOf(uri: string, experiment: string, localId: string) {
  const exp = await restGet(uri, 'experiments/get-by-name', { experiment_name: experiment });
  const found = await restPost(uri, 'runs/search', {
    experiment_ids: [exp.experiment.experiment_id],
    filter: `tags.\`gzx.run_id\` = '${localId}'`,
  });
  return (found.runs ?? []) as {
    info: { run_id: string; status: string; artifact_uri: string; end_time?: number };
    data: { params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] };
  }[];
}

async function listArtifactsRest(uri: string, artifactUri: string, sub = ''): Promise<Map<string, number>> {
  const root = artifactUri.replace(/^mlflow-artifacts:\/*/, '');
  const res = await fetch(`${uri}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(sub ? `${root}/${sub}` : root)}`, {
    headers: authHeaders(),
  });
  const body = (await res.json()) as { files?: { path: string; is_dir: boolean; file_size?: number }[] };
  const out = new Map<string, number>();
  for (const f of body.files ?? []) {
    const rel = sub ? `${sub}/${f.path}` : f.path;
    if (f.is_dir) for (const [k, v] of await listArtifactsRest(uri, artifactUri, rel)) out.set(k, v);
    else out.set(rel, Number(f.file_size));
  }
  return out;
}

/** Local points grouped by key, in the shape restHistory returns. */
function localHistory(points: { key: string; value: number; step: number; timestamp: number }[], key: string): [number, number, number][] {
  return points
    .filter((p) => p.key === key)
    .map((p) => [p.step, p.value, p.timestamp] as [number, number, number])
    .sort((a, b) => a[0] - b[0] || a[2] - b[2]);
}

describe.skipIf(!server)('MLflow client against a real server', () => {
  it('get-or-create an experiment is safe when several callers race', async () => {
    const client = quietClient(server!.uri);
    const ids = await Promise.all([1, 2, 3, 4].map(() => client.getOrCreateExperiment('race')));
    expect(new Set(ids.map((e) => e.experimentId)).size).toBe(1);
    expect(ids[0].name).toBe('race');
  });

  it('logs big batches within the server limits: every param, tag and metric point arrives, odd keys renamed once', async () => {
    const notes: string[] = [];
    const client = quietClient(server!.uri, notes);
    const exp = await client.getOrCreateExperiment('limits');
    const run = await client.createRun({ experimentId: exp.experimentId, runName: 'limits' });
    const params = Object.fromEntries(Array.from({ length: 110 }, (_, i) => [`p.${i}`, `${i}:`.padEnd(5990, 'x')]));
    params['loss[q1]'] = 'renamed';
    params['long'] = 'z'.repeat(7000);
    const tags = Object.fromEntries(Array.from({ length: 105 }, (_, i) => [`t.${i}`, 'y'.repeat(7990)]));
    const metrics = Array.from({ length: 1100 }, (_, i) => ({
      key: 'm/loss',
      value: i === 5 ? NaN : i / 7,
      step: i,
      timestamp: 1_700_000_000_000 + i,
    }));
    await client.logBatch(run.runId, { params, tags, metrics });
    await client.logBatch(run.runId, { metrics: [{ key: 'loss[q1]', value: 1, step: 0, timestamp: 1 }] });

    const got = await restGet(server!.uri, 'runs/get', { run_id: run.runId });
    const serverParams = Object.fromEntries(got.run.data.params.map((p: { key: string; value: string }) => [p.key, p.value]));
    expect(Object.keys(serverParams)).toHaveLength(112);
    expect(serverParams['p.109']).toBe(params['p.109']);
    expect(serverParams['loss_q1_']).toBe('renamed');
    expect(serverParams['long']).toHaveLength(6000);
    expect(got.run.data.tags.filter((t: { key: string }) => t.key.startsWith('t.'))).toHaveLength(105);
    const history = await restHistory(server!.uri, run.runId, 'm/loss');
    expect(history).toHaveLength(1100);
    expect(Number.isNaN(history[5][1])).toBe(true);
    expect(history[1099]).toEqual([1099, 1099 / 7, 1_700_000_000_000 + 1099]);
    // Said once per key, not once per use.
    expect(notes.filter((n) => n.includes('"loss[q1]"'))).toHaveLength(1);
  });

  it('reads metric history across pages, and uploads, lists and downloads artifacts (folders included)', async () => {
    const client = quietClient(server!.uri);
    const exp = await client.getOrCreateExperiment('artifacts');
    const run = await client.createRun({ experimentId: exp.experimentId, runName: 'a' });
    const metrics = Array.from({ length: 1500 }, (_, i) => ({ key: 'loss', value: i, step: i, timestamp: i }));
    await client.logBatch(run.runId, { metrics });
    // Pages of 400: four requests, every point once.
    const history = await client.getMetricHistory(run.runId, 'loss', 400);
    expect(history).toHaveLength(1500);
    expect(new Set(history.map((m) => m.step)).size).toBe(1500);

    const dir = await mkdtemp(path.join(tmp, 'art-'));
    await (await import('node:fs/promises')).mkdir(path.join(dir, 'model', 'sub'), { recursive: true });
    await (await import('node:fs/promises')).writeFile(path.join(dir, 'model', 'model.json'), '{"a":1}');
    await (await import('node:fs/promises')).writeFile(path.join(dir, 'model', 'sub', 'w b.bin'), Buffer.alloc(3000, 7));
    const written = await client.uploadArtifactPath(run, path.join(dir, 'model'), 'model');
    expect(written.sort()).toEqual(['model/model.json', 'model/sub/w b.bin']);
    const listed = await client.listArtifactsRecursive(run);
    expect(listed.map((e) => [e.path, e.fileSize])).toEqual(
      expect.arrayContaining([
        ['model/model.json', 7],
        ['model/sub/w b.bin', 3000],
      ]),
    );
    expect((await client.downloadArtifact(run, 'model/sub/w b.bin')).equals(Buffer.alloc(3000, 7))).toBe(true);
    // The same files through raw REST, as the MLflow UI sees them.
    expect(await listArtifactsRest(server!.uri, run.artifactUri)).toEqual(
      new Map([
        ['model/model.json', 7],
        ['model/sub/w b.bin', 3000],
      ]),
    );
  });

  it('credentials come from the environment; missing or wrong ones give a 401 UserError that never shows a password', async () => {
    const none = await new MlflowClient({ trackingUri: server!.uri, env: {} }).getOrCreateExperiment('auth').catch((e) => e);
    expect(none).toBeInstanceOf(MlflowApiError);
    expect(none.status).toBe(401);
    expect(none.message).toMatch(/MLFLOW_TRACKING_USERNAME/);
    const wrong = await new MlflowClient({
      trackingUri: server!.uri,
      env: { MLFLOW_TRACKING_USERNAME: 'admin', MLFLOW_TRACKING_PASSWORD: 'not-the-password-123' },
    })
      .getOrCreateExperiment('auth')
      .catch((e) => e);
    expect(wrong.status).toBe(401);
    expect(wrong.message).not.toContain('not-the-password-123');
    const ok = await new MlflowClient({
      trackingUri: server!.uri,
      env: { MLFLOW_TRACKING_USERNAME: TEST_AUTH.username, MLFLOW_TRACKING_PASSWORD: TEST_AUTH.password },
    }).getOrCreateExperiment('auth');
    expect(ok.name).toBe('auth');
    expect(JSON.stringify(ok)).not.toContain(TEST_AUTH.password);
  });

  it('4xx answers become one clear UserError; a non-http URI is refused up front', async () => {
    const client = quietClient(server!.uri);
    const err = await client.logBatch('0123456789abcdef0123456789abcdef', { params: { a: '1' } }).catch((e) => e);
    expect(err).toBeInstanceOf(MlflowApiError);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain(server!.uri);
    expect(err.message).toMatch(/RESOURCE_DOES_NOT_EXIST/);
    expect(err.message).not.toContain('\n');
    expect(() => new MlflowClient({ trackingUri: 'file:///tmp/mlruns' })).toThrow(/uses file: .* over http\(s\) only/);
    expect(() => new MlflowClient({ trackingUri: 'http://user:secret@127.0.0.1:5000' })).toThrow(/MLFLOW_TRACKING_USERNAME/);
  });
});

describe.skipIf(!server)('mlflow logger plugin', () => {
  it('driven like the engine drives it: params, the full metric history, tags, artifacts and status arrive', async () => {
    const messages: string[] = [];
    const root = path.join(tmp, 'logger');
    const local = new LocalRunWriter();
    const logger = (await mlflowLogger.create(
      { tracking_uri: server!.uri, experiment: 'gzx-logger' },
      loggerCtx(messages) as PluginContext,
    )) as MlflowRunLogger;
    const { info, points } = await simulateTraining([local, logger], { root, id: '20261128-090000-quick', epochs: 4, stepsPerEpoch: 300, seed: 3 });

    const link = JSON.parse(await readFile(path.join(info.runDir, 'mlflow.json'), 'utf8'));
    expect(link).toEqual({ tracking_uri: server!.uri, experiment_id: expect.any(String), run_id: expect.any(String) });
    const got = (await restGet(server!.uri, 'runs/get', { run_id: link.run_id })).run;
    expect(got.info.status).toBe('FINISHED');
    expect(got.info.end_time).toBeGreaterThan(0);

    const params = Object.fromEntries(got.data.params.map((p: { key: string; value: string }) => [p.key, p.value]));
    expect(params).toEqual(mlflowParams(info.params));
    expect(Object.keys(params).some((k) => k.startsWith('logger.'))).toBe(false);

    const tags = Object.fromEntries(got.data.tags.map((t: { key: string; value: string }) => [t.key, t.value]));
    expect(tags).toMatchObject({
      // Named by the local run id: every run of a config shares the config's name.
      'mlflow.runName': '20261128-090000-quick',
      'gzx.config_name': 'quick',
      'gzx.epoch': '4',
      'gzx.baseline_rmse': '0.27',
      'mlflow.source.type': 'LOCAL',
      'mlflow.source.name': 'configs/quick.yaml',
      'mlflow.user': os.userInfo().username,
      'mlflow.note.content': info.description,
      'gzx.version': '0.1.0',
      'gzx.backend': 'wasm',
      'gzx.config_hash': info.configHash,
      'gzx.data_fingerprint': 'fp-3',
      'gzx.run_id': '20261128-090000-quick',
    });

    // 1200 per-step losses (more than one batch) and every per-epoch metric, point for point;
    // per-question RMSEs grouped under valid_rmse/, constants as tags only.
    for (const [key, remote] of [
      ['train_loss', 'train_loss'],
      ['valid_rmse', 'valid_rmse'],
      ['valid_rmse_q11', 'valid_rmse/q11'],
      ['valid_rmse_q1', 'valid_rmse/q01'],
      ['images_per_sec', 'images_per_sec'],
    ]) {
      expect(await restHistory(server!.uri, link.run_id, remote)).toEqual(localHistory(points, key));
    }
    expect(await restHistory(server!.uri, link.run_id, 'epoch')).toEqual([]);
    expect(await restHistory(server!.uri, link.run_id, 'valid_rmse_q11')).toEqual([]);
    expect((await restHistory(server!.uri, link.run_id, 'train_loss')).length).toBe(1200);

    const artifacts = await listArtifactsRest(server!.uri, got.info.artifact_uri);
    for (const [f, remote] of [
      ['config.yaml', 'config.yaml'],
      ['model/model.json', 'model/model.json'],
      ['model/weights.bin', 'model/weights.bin'],
      ['artifacts/loss.png', 'loss.png'],
      ['summary.json', 'summary.json'],
    ]) {
      const localSize = (await readFile(path.join(info.runDir, f))).length;
      expect(artifacts.get(remote), f).toBe(localSize);
    }
    expect([...artifacts.keys()].filter((k) => k.startsWith('artifacts/'))).toEqual([]);
    expect(messages.filter((m) => /off for the rest/.test(m))).toEqual([]);

    // Logged live, then synced: nothing is missing, so nothing goes up.
    const report = await syncRun(quietClient(server!.uri), await readRunFolder(info.runDir), { experiment: 'gzx-logger' });
    expect(report).toMatchObject({ created: false, params: 0, metrics: 0, tags: 0, artifacts: 0, mlflowRunId: link.run_id });
  });

  it('a failed run ends FAILED with the error as a tag', async () => {
    const root = path.join(tmp, 'failed');
    const logger = (await mlflowLogger.create(
      { tracking_uri: server!.uri, experiment: 'gzx-logger', run_name: 'custom name' },
      loggerCtx([]) as PluginContext,
    )) as MlflowRunLogger;
    const { info } = await simulateTraining([new LocalRunWriter(), logger], {
      root,
      id: 'failed-run',
      epochs: 1,
      stepsPerEpoch: 5,
      status: 'FAILED',
    });
    const [run] = await serverRunOf(server!.uri, 'gzx-logger', info.runId);
    expect(run.info.status).toBe('FAILED');
    const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags['gzx.error']).toBe('loss became NaN at step 7');
    expect(tags['mlflow.runName']).toBe('custom name');
  });

  it('an unreachable server at start: one message, training goes on quickly, the local folder has everything', async () => {
    const messages: string[] = [];
    const uri = await deadUri();
    const root = path.join(tmp, 'dead');
    const logger = await mlflowLogger.create({ tracking_uri: uri }, loggerCtx(messages) as PluginContext);
    const t0 = Date.now();
    const { info, points } = await simulateTraining([new LocalRunWriter(), logger], { root, id: 'offline-run', epochs: 2, stepsPerEpoch: 100 });
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(new RegExp(`Cannot reach the MLflow server at ${uri} \\(connection refused`));
    expect(messages[0]).toContain(`gzx runs sync offline-run --to ${uri}`);
    expect(existsSync(path.join(info.runDir, 'mlflow.json'))).toBe(false);
    const folder = await readRunFolder(info.runDir);
    expect(folder.metrics).toHaveLength(points.length);
    expect(folder.meta.status).toBe('FINISHED');
  });

  it('a server that accepts connections but never answers holds the run up for a few seconds at most, once', async () => {
    // A black hole on loopback: TCP connects, no HTTP answer ever comes.
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const uri = `http://127.0.0.1:${(hole.address() as net.AddressInfo).port}`;
    try {
      const messages: string[] = [];
      const logger = await mlflowLogger.create({ tracking_uri: uri }, loggerCtx(messages) as PluginContext);
      const info = fakeRunInfo({ root: path.join(tmp, 'hole'), id: 'hole-run' });
      await mkdir(info.runDir, { recursive: true });
      const t0 = Date.now();
      await logger.start(info);
      const startSec = (Date.now() - t0) / 1000;
      for (let step = 1; step <= 50; step++) await logger.logMetrics([{ key: 'train_loss', value: 1 / step, step, timestamp: Date.now() }]);
      await logger.end('FINISHED', {});
      expect(startSec).toBeLessThan(8); // the first request waits 3 s, once, without retries
      expect((Date.now() - t0) / 1000 - startSec).toBeLessThan(1);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(/no answer within 3 s/);
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  it('without a tracking URI anywhere, the config mistake is reported before training', async () => {
    const saved = process.env.MLFLOW_TRACKING_URI;
    delete process.env.MLFLOW_TRACKING_URI;
    try {
      expect(() => mlflowLogger.create({ experiment: 'gzx' }, loggerCtx([]) as PluginContext)).toThrow(/no tracking URI.*MLFLOW_TRACKING_URI/);
    } finally {
      if (saved !== undefined) process.env.MLFLOW_TRACKING_URI = saved;
    }
  });
});

describe.skipIf(!server)('server killed mid-run, then runs sync', () => {
  it('loses nothing, and a second sync duplicates nothing', async () => {
    const messages: string[] = [];
    const root = path.join(tmp, 'killed', 'runs');
    const id = '20261128-110000-killed';
    const logger = (await mlflowLogger.create(
      { tracking_uri: server!.uri, experiment: 'gzx-kill' },
      loggerCtx(messages) as PluginContext,
    )) as MlflowRunLogger;
    let serverRunId = '';
    const { info, points } = await simulateTraining([new LocalRunWriter(), logger], {
      root,
      id,
      epochs: 4,
      stepsPerEpoch: 250,
      async afterEpoch(epoch) {
        if (epoch !== 2) return;
        // Wait until the server holds part of the run, then kill it while the logger is busy.
        serverRunId = logger.serverRun!.runId;
        const deadline = Date.now() + 60_000;
        while ((await restHistory(server!.uri, serverRunId, 'valid_rmse')).length < 1 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 200));
        await server!.kill();
      },
    });
    expect(messages.filter((m) => /off for the rest/.test(m))).toHaveLength(1);
    expect(messages.join('\n')).toContain(`gzx runs sync ${id}`);

    await server!.restart();
    const partial = await restHistory(server!.uri, serverRunId, 'train_loss');
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(1000);

    // The CLI, as a user would run it after the outage.
    const cwd = path.dirname(root);
    const sync = () => promisify(execFile)('node', [BIN, 'runs', 'sync', '--to', server!.uri, '--experiment', 'gzx-kill'], { cwd });
    const first = await sync();
    expect(first.stdout).toMatch(
      new RegExp(`${id} → ${server!.uri}/#/experiments/\\d+/runs/${serverRunId}: uploaded \\d+ param\\(s\\), [1-9]\\d* metric point\\(s\\)`),
    );
    expect(first.stdout).toContain('status FINISHED');

    const runs = await serverRunOf(server!.uri, 'gzx-kill', id);
    expect(runs).toHaveLength(1);
    expect(runs[0].info.status).toBe('FINISHED');
    const keys = [...new Set(points.map((p) => p.key))];
    for (const key of keys) {
      const remote = mlflowMetricKey(key);
      if (remote !== null) expect(await restHistory(server!.uri, serverRunId, remote), key).toEqual(localHistory(points, key));
    }
    expect(Object.fromEntries((runs[0].data.params ?? []).map((p) => [p.key, p.value]))).toEqual(mlflowParams(info.params));
    const artifacts = await listArtifactsRest(server!.uri, runs[0].info.artifact_uri);
    expect([...artifacts.keys()].sort()).toEqual(['config.yaml', 'loss.png', 'model/model.json', 'model/weights.bin', 'summary.json']);

    const second = await sync();
    expect(second.stdout.trim()).toMatch(new RegExp(`${id} → .*: already up to date$`));
    expect(await serverRunOf(server!.uri, 'gzx-kill', id)).toHaveLength(1);
    expect((await restHistory(server!.uri, serverRunId, 'train_loss')).length).toBe(1000);
  });

  it('sync of a run the server never saw creates it once, with everything', async () => {
    const root = path.join(tmp, 'never', 'runs');
    const { info, points } = await simulateTraining([new LocalRunWriter()], { root, id: 'never-seen', epochs: 2, stepsPerEpoch: 40, seed: 9 });
    const client = quietClient(server!.uri);
    const first = await syncRun(client, await readRunFolder(info.runDir), { experiment: 'gzx-sync' });
    expect(first).toMatchObject({
      created: true,
      params: Object.keys(mlflowParams(info.params)).length,
      metrics: mlflowMetrics(points).length,
      artifacts: 5,
      status: 'FINISHED',
    });
    const second = await syncRun(client, await readRunFolder(info.runDir), { experiment: 'gzx-sync' });
    expect(second).toMatchObject({ created: false, params: 0, metrics: 0, tags: 0, artifacts: 0, mlflowRunId: first.mlflowRunId });
    expect(second.status).toBeUndefined();
    // Without mlflow.json, the run is still found by its gzx.run_id tag.
    await rm(path.join(info.runDir, 'mlflow.json'));
    const third = await syncRun(client, await readRunFolder(info.runDir), { experiment: 'gzx-sync' });
    expect(third).toMatchObject({ created: false, metrics: 0, mlflowRunId: first.mlflowRunId });
    expect(await serverRunOf(server!.uri, 'gzx-sync', 'never-seen')).toHaveLength(1);
  });
});

describe.skipIf(!server)('a real `gzx run` as MLflow users see it', () => {
  it('run named by its id, grouped metric keys, constants as tags, resolved params, flat artifacts, gzx and config sources apart', async () => {
    // The config sits outside any git checkout (a temp folder), the output folder does not exist yet.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gzx-mlflow-view-'));
    const config = path.join(dir, 'view.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      config,
      `name: view
seed: 3
output_dir: ${path.join(dir, 'new', 'runs')}
data: {use: synthetic, with: {dir: ${path.join(dir, 'data')}, count: 120, size: 96}}
augment: []
backbone: {use: simple-cnn, with: {channels: [8, 16]}}
head: {use: galaxy-zoo, with: {hidden: 16}}
logger: [{use: mlflow, with: {experiment: gzx-view}}]
train: {size: 32, batch_size: 16, lr: 0.005, phases: [{epochs: 2}]}
`,
    );
    const r = await promisify(execFile)('node', [BIN, 'run', config, '--set', 'backend=cpu'], {
      cwd: dir,
      env: { ...process.env, MLFLOW_TRACKING_URI: server!.uri },
    });
    const runDir = /run finished: (\S+)/.exec(r.stdout)![1];
    const runId = path.basename(runDir);
    // The first run into a new output folder is no duplicate.
    expect(runId).toMatch(/^\d{8}-\d{6}-view$/);
    const [run] = await serverRunOf(server!.uri, 'gzx-view', runId);
    const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags['mlflow.runName']).toBe(runId);
    expect(tags).toMatchObject({ 'gzx.config_name': 'view', 'gzx.epoch': '2', 'gzx.phase': '1', 'gzx.size': '32', 'gzx.backend': 'cpu' });
    expect(Number(tags['gzx.baseline_rmse'])).toBeGreaterThan(0);
    // gzx's own commit (this checkout), none for the config's folder.
    expect(tags['gzx.git_commit']).toMatch(/^[0-9a-f]{40}$/);
    expect(tags['gzx.git_dirty']).toMatch(/^(true|false)$/);
    expect(tags['mlflow.source.git.commit']).toBeUndefined();

    const params = Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));
    expect(params).toMatchObject({ backend: 'cpu', 'train.cache_images': 'true', 'train.lr': '0.005', 'train.phases.0.epochs': '2' });
    expect(Number(params['train.workers'])).toBeGreaterThanOrEqual(1);
    for (const key of Object.keys(params)) {
      expect(key, 'no logger settings, no plugins=[], no inherited phase values').not.toMatch(
        /^logger\.|^plugins$|^train\.phases\.0\.(lr|size|batch_size|schedule)/,
      );
      expect(params[key], key).not.toBe('null');
      // Settings the engine resolves (backend, workers, cache, threads) go up resolved; a plugin's own `auto` (data.with.crop) stays as written.
      if (key !== 'data.with.crop') expect(params[key], key).not.toBe('auto');
    }

    const got = await restGet(server!.uri, 'runs/get', { run_id: run.info.run_id });
    const metricKeys = (got.run.data.metrics as { key: string }[]).map((m) => m.key).sort();
    expect(metricKeys).toEqual(
      [
        'data_wait_pct',
        'images_per_sec',
        'lr',
        'momentum',
        'train_loss',
        'train_loss_epoch',
        'valid_rmse',
        ...Array.from({ length: 11 }, (_, q) => `valid_rmse/q${String(q + 1).padStart(2, '0')}`),
      ].sort(),
    );
    const artifacts = await listArtifactsRest(server!.uri, run.info.artifact_uri);
    expect(artifacts.has('curves.png')).toBe(true);
    expect(artifacts.has('config.yaml')).toBe(true);
    expect([...artifacts.keys()].filter((k) => k.startsWith('artifacts/'))).toEqual([]);
    // The run folder keeps its own keys (readers of metrics.jsonl rely on them).
    const folder = await readRunFolder(runDir);
    expect(folder.metrics.some((p) => p.key === 'valid_rmse_q1')).toBe(true);
    expect(folder.params['train.cache_images']).toBe('true');
    // And a sync right after finds nothing to add.
    const report = await syncRun(quietClient(server!.uri), folder, { experiment: 'gzx-view' });
    expect(report).toMatchObject({ created: false, params: 0, metrics: 0, tags: 0, artifacts: 0 });
    await rm(dir, { recursive: true, force: true });
  }, 300_000);
});

describe.skipIf(!server)('a sweep in MLflow', () => {
  it('is a parent run named by the sweep id; each trial a child run named by its overrides', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gzx-mlflow-sweep-'));
    const config = path.join(dir, 'swept.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(config, tinyExperimentYaml({ name: 'swept', logger: '[{use: mlflow, with: {experiment: gzx-sweep}}]' }));
    const r = await promisify(execFile)('node', [BIN, 'sweep', config, '-p', 'train.lr=0.003,0.01'], {
      cwd: dir,
      env: { ...process.env, MLFLOW_TRACKING_URI: server!.uri, TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    const sweepDir = /sweep finished: (\S+)/.exec(r.stdout)![1];
    const sweepId = path.basename(sweepDir);
    const exp = await restGet(server!.uri, 'experiments/get-by-name', { experiment_name: 'gzx-sweep' });
    const all = (await restPost(server!.uri, 'runs/search', { experiment_ids: [exp.experiment.experiment_id] })).runs as {
      info: { run_id: string; status: string; run_name: string; artifact_uri: string };
      data: { tags?: { key: string; value: string }[]; metrics?: { key: string; value: number }[]; params?: { key: string; value: string }[] };
    }[];
    const tagsOf = (run: (typeof all)[number]) => Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
    const parent = all.find((run) => tagsOf(run)['gzx.sweep_id'] === sweepId && !tagsOf(run)['mlflow.parentRunId'])!;
    expect(parent.info.run_name).toBe(sweepId);
    expect(parent.info.status).toBe('FINISHED');
    const children = all.filter((run) => tagsOf(run)['mlflow.parentRunId'] === parent.info.run_id);
    expect(children.map((c) => c.info.run_name).sort()).toEqual(['lr=0.003', 'lr=0.01']);
    for (const c of children) expect(c.info.status).toBe('FINISHED');
    const summary = JSON.parse(await readFile(path.join(sweepDir, 'summary.json'), 'utf8'));
    const best = Math.min(...summary.rows.map((row: { best_valid_rmse: number }) => row.best_valid_rmse));
    expect(parent.data.metrics?.find((m) => m.key === 'best_valid_rmse')?.value).toBeCloseTo(best, 6);
    expect(Object.fromEntries((parent.data.params ?? []).map((p) => [p.key, p.value]))).toMatchObject({
      'sweep.train.lr': '0.003,0.01',
      'sweep.method': 'grid',
    });
    const artifacts = await listArtifactsRest(server!.uri, parent.info.artifact_uri);
    expect([...artifacts.keys()].sort()).toEqual(['summary.csv', 'summary.json', 'sweep.yaml']);
    await rm(dir, { recursive: true, force: true });
  }, 300_000);
});
