// Local run folders: reading them, `gzx runs list` and `gzx runs compare` (no server needed).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRunFolders, readMetrics, readRunFolder, resolveRuns } from '../../src/tracking/runs/folder.js';
import { compareRuns, compareTable, runsListTable } from '../../src/tracking/runs/table.js';
import { UserError } from '../../src/base/errors.js';
import { isValidKey, sanitiseKey, splitBatch, MAX_BATCH_BYTES } from '../../src/tracking/mlflow/limits.js';
import { deadUri, fabricateRunFolder } from '../helpers/mlflow.js';
import { BIN } from '../helpers/paths.js';

const run = promisify(execFile);

let base: string;
let root: string;
beforeAll(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'gzx-runs-'));
  // The CLI's default --dir is runs/ under the working directory.
  root = path.join(base, 'runs');
  await fabricateRunFolder({ root, id: '20261128-090000-quick', seed: 1, lr: 0.003, epochs: 3, stepsPerEpoch: 20 });
  await fabricateRunFolder({ root, id: '20261128-100000-quick', seed: 2, lr: 0.01, epochs: 4, stepsPerEpoch: 20, status: 'FAILED' });
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function gzx(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { cwd: base });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

describe('run folders', () => {
  it('reads what the local logger wrote: params, every metric point (NaN kept), status and tags', async () => {
    const r = await readRunFolder(path.join(root, '20261128-090000-quick'));
    expect(r.meta.status).toBe('FINISHED');
    expect(r.params['train.lr']).toBe('0.003');
    expect(r.metrics.filter((p) => p.key === 'train_loss')).toHaveLength(60);
    expect(r.metrics.filter((p) => p.key === 'valid_rmse')).toHaveLength(3);
    expect(Number.isNaN(r.metrics.find((p) => p.key === 'train_loss' && p.step === 4)!.value)).toBe(true);
    expect(r.meta.tags['gzx.data_fingerprint']).toBe('fp-1');
  });

  it('ignores a half-written last line but names the file and line of a broken one in the middle', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gzx-metrics-'));
    const file = path.join(dir, 'metrics.jsonl');
    const good = JSON.stringify({ key: 'train_loss', value: 0.5, step: 1, timestamp: 1 });
    await writeFile(file, `${good}\n{"key": "train_lo`);
    expect(await readMetrics(file)).toHaveLength(1);
    await writeFile(file, `${good}\n{"key": "train_lo\n${good}\n`);
    await expect(readMetrics(file)).rejects.toThrow(UserError);
    await expect(readMetrics(file)).rejects.toThrow(`${file}, line 2: not valid JSON`);
    await rm(dir, { recursive: true, force: true });
  });

  it('an unknown run id is a UserError with a did-you-mean', async () => {
    await expect(resolveRuns(root, ['20261128-090000-quik'])).rejects.toThrow(/No run "20261128-090000-quik".*Did you mean "20261128-090000-quick"/);
  });
});

describe('runs list and compare', () => {
  it('lists runs oldest first with status, backend and best valid_rmse', async () => {
    const runs = await listRunFolders(root);
    const table = runsListTable(runs).split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+STARTED\s+STATUS\s+BACKEND\s+BEST VALID_RMSE$/);
    expect(table[1]).toMatch(/^20261128-090000-quick\s+quick\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+FINISHED\s+wasm\s+0\.\d{4}$/);
    expect(table[2]).toMatch(/FAILED\s+wasm/);
    const best = Math.min(...runs[0].metrics.filter((p) => p.key === 'valid_rmse').map((p) => p.value));
    expect(table[1]).toContain(best.toFixed(4));
  });

  it('compare shows only the params that differ and the final metrics side by side', async () => {
    const runs = await resolveRuns(root, ['20261128-090000-quick', '20261128-100000-quick']);
    const c = compareRuns(runs);
    const keys = c.params.map((p) => p.key);
    expect(keys).toEqual(expect.arrayContaining(['seed', 'train.lr', 'train.phases.0.epochs']));
    expect(keys).not.toContain('train.batch_size');
    expect(c.params.find((p) => p.key === 'train.lr')!.values).toEqual(['0.003', '0.01']);
    expect(c.metrics[0].key).toBe('valid_rmse');
    expect(c.metrics.find((m) => m.key === 'epoch')!.values).toEqual([3, 4]);
    const text = compareTable(c);
    expect(text).toMatch(/train\.lr\s+0\.003\s+0\.01/);
    expect(text).toMatch(/epoch\s+3\s+4/);
  });

  it('the CLI prints the list, the comparison, and one clear line for a mistake', async () => {
    const list = await gzx('runs', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('20261128-100000-quick');
    const cmp = await gzx('runs', 'compare', '20261128-090000-quick', '20261128-100000-quick');
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).toMatch(/Params that differ/);
    const bad = await gzx('runs', 'compare', '20261128-090000-quick', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^gzx: No run "nope"/);
    const noDir = await gzx('runs', 'list', '--dir', 'does-not-exist');
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toMatch(/No runs folder at .*does-not-exist/);
  });

  it('runs sync to a server that is not there fails with one line naming the URI and the fix', async () => {
    const uri = await deadUri();
    const r = await gzx('runs', 'sync', '--to', uri);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`Cannot reach the MLflow server at ${uri} (connection refused`);
    expect(r.stderr).toContain('npm run mlflow:server');
    const noUri = await run('node', [BIN, 'runs', 'sync'], { cwd: base, env: { ...process.env, MLFLOW_TRACKING_URI: '' } }).catch((e) => e);
    expect(noUri.code).toBe(2);
    expect(noUri.stderr).toMatch(/no MLflow server given\. Pass --to/);
  });

  it('a broken meta.json names the file', async () => {
    const dir = path.join(root, 'broken');
    await mkdir(dir);
    await writeFile(path.join(dir, 'meta.json'), '{"runId": "broken", ');
    await expect(readRunFolder(dir)).rejects.toThrow(`${path.join(dir, 'meta.json')} is not valid JSON`);
    await rm(dir, { recursive: true });
  });
});

describe('MLflow key and batch rules', () => {
  it('renames keys the server would reject and keeps valid ones as they are', () => {
    for (const [bad, good] of [
      ['loss[q1]', 'loss_q1_'],
      ['a//b', 'a/b'],
      ['/abs', 'abs'],
      ['dir/', 'dir'],
      ['..up', '__up'],
      ['x/../y', 'x/__/y'],
      ['métrique', 'm_trique'],
    ]) {
      expect(sanitiseKey(bad)).toBe(good);
      expect(isValidKey(sanitiseKey(bad))).toBe(true);
    }
    expect(sanitiseKey('train.phases.0.lr')).toBe('train.phases.0.lr');
    expect(sanitiseKey('valid_rmse_q1: smooth')).toBe('valid_rmse_q1: smooth');
  });

  it('splits a batch at 1000 metrics, 100 params, 100 tags, 1000 entities and 1 MB', () => {
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: i }));
    const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: 'x'.repeat(6000) }));
    const tags = Array.from({ length: 120 }, (_, i) => ({ key: `t${i}`, value: 'y'.repeat(8000) }));
    const parts = splitBatch(metrics, params, tags);
    for (const p of parts) {
      expect(p.metrics.length).toBeLessThanOrEqual(1000);
      expect(p.params.length).toBeLessThanOrEqual(100);
      expect(p.tags.length).toBeLessThanOrEqual(100);
      expect(p.metrics.length + p.params.length + p.tags.length).toBeLessThanOrEqual(1000);
      expect(JSON.stringify(p).length).toBeLessThanOrEqual(MAX_BATCH_BYTES + 10_000);
    }
    expect(parts.flatMap((p) => p.metrics)).toHaveLength(2500);
    expect(parts.flatMap((p) => p.params)).toHaveLength(250);
    expect(parts.flatMap((p) => p.tags)).toHaveLength(120);
  });
});

describe('newRunDir', () => {
  it('the first run into a new output folder gets no -1 suffix; a second in the same second does', async () => {
    const { newRunDir } = await import('../../src/app/run.js');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-newrun-'));
    try {
      const config = { name: 'q', output_dir: path.join(root, 'a', 'b') } as Parameters<typeof newRunDir>[0];
      const first = await newRunDir(config);
      expect(path.basename(first)).toMatch(/^\d{8}-\d{6}-q$/);
      const second = await newRunDir(config);
      // Same second: a suffix; the next second: a new stamp (either way, not the same folder).
      expect(second).not.toBe(first);
      if (path.basename(second).slice(0, 15) === path.basename(first).slice(0, 15)) expect(second).toBe(`${first}-1`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
