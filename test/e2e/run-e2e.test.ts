// End to end: a YAML experiment → a trained model and a complete run folder; resume equals an
// uninterrupted run; Ctrl-C marks the run killed and keeps its checkpoint.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { trainExperiment } from '../../src/app/experiment.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { readModelArtifacts } from '../../src/framework/model-io.js';
import { BIN } from '../helpers/paths.js';

const tmpDir = useTmpDir('gzx-e2e-');

/** A small experiment in its own folder; synthetic data is shared between tests through `dataDir`. */
async function writeConfig(name: string, extra: string): Promise<string> {
  const file = path.join(tmpDir(), `${name}.yaml`);
  await fs.writeFile(
    file,
    `name: ${name}
seed: 7
output_dir: ${path.join(tmpDir(), 'runs')}
data:
  use: synthetic
  with: {dir: ${path.join(tmpDir(), 'data')}, count: 400, size: 128, valid_fraction: 0.2}
augment: [{use: flip}]
backbone: {use: simple-cnn, with: {channels: [8, 16, 32]}}
head: {use: galaxy-zoo, with: {ps: 0.1, hidden: 32}}
logger: []
${extra}`,
  );
  return file;
}

const quiet = () => undefined;

async function readLines(file: string): Promise<Record<string, unknown>[]> {
  return (await fs.readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('gzx run, end to end', () => {
  it('trains, beats the column-mean baseline and writes a complete run folder', async () => {
    const config = await writeConfig(
      'tiny',
      `train:
  size: 32
  batch_size: 16
  lr: 0.005
  workers: 0
  phases: [{epochs: 3}]
`,
    );
    const said: string[] = [];
    const result = await trainExperiment({ configFile: config, log: (m) => said.push(m) });
    expect(result.status).toBe('FINISHED');
    // 400 images at 32 px are 1.2 MB: the default keeps them in memory and says so.
    expect(said.join('\n')).toMatch(
      /images: kept in memory once decoded \(train\.cache_images: auto; 1 MiB for 400 images at 32 px, within a quarter of/,
    );
    const dir = result.runDir;
    const files = await fs.readdir(dir);
    for (const f of ['config.yaml', 'params.json', 'meta.json', 'metrics.jsonl', 'model', 'summary.json', 'checkpoint', 'artifacts']) {
      expect(files).toContain(f);
    }
    const params = JSON.parse(await fs.readFile(path.join(dir, 'params.json'), 'utf8'));
    expect(params['train.phases.0.epochs']).toBe('3');
    expect(params['data.use']).toBe('synthetic');
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8'));
    expect(meta.status).toBe('FINISHED');
    const metrics = await readLines(path.join(dir, 'metrics.jsonl'));
    expect(metrics.filter((m) => m.key === 'train_loss').length).toBe(3 * Math.ceil(320 / 16));
    expect(metrics.filter((m) => m.key === 'valid_rmse').length).toBe(3);
    expect(metrics.filter((m) => m.key === 'valid_rmse_q11').length).toBe(3);
    for (const m of metrics) expect(typeof m.timestamp).toBe('number');
    const summary = JSON.parse(await fs.readFile(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.backend.name).toMatch(/^(tensorflow|wasm|cpu)$/);
    expect(summary.versions.tfjs).toBe('4.22.0');
    expect(summary.wall_time_sec).toBeGreaterThan(0);
    const { valid_rmse, baseline_rmse } = summary.final;
    expect(valid_rmse).toBeLessThan(0.9 * baseline_rmse);
    const model = await readModelArtifacts(path.join(dir, 'model'));
    expect((model.weightData as ArrayBuffer).byteLength).toBeGreaterThan(1000);
    const png = await fs.readFile(path.join(dir, 'artifacts', 'curves.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const grid = await fs.readFile(path.join(dir, 'artifacts', 'predictions.png'));
    expect(grid.subarray(1, 4).toString()).toBe('PNG');
  });

  it('a run stopped after an epoch and resumed ends with the same weights and metrics as one never interrupted', async () => {
    const train = `backend: cpu
train:
  size: 24
  batch_size: 16
  lr: 0.005
  workers: 0
  max_steps_per_epoch: 4
  phases: [{epochs: 1, freeze: backbone}, {epochs: 2, lr: [0.001, 0.005]}]
`;
    const whole = await trainExperiment({ configFile: await writeConfig('whole', train), log: quiet });
    expect(whole.status).toBe('FINISHED');

    // Abort as soon as the first epoch's checkpoint exists.
    const controller = new AbortController();
    const partedConfig = await writeConfig('parted', train);
    void firstCheckpoint('parted', 20).then(() => controller.abort());
    const parted = await trainExperiment({ configFile: partedConfig, signal: controller.signal, log: quiet });
    expect(parted.status).toBe('KILLED');
    const resumed = await trainExperiment({ resumeDir: parted.runDir, log: quiet });
    expect(resumed.status).toBe('FINISHED');

    const a = await readModelArtifacts(path.join(whole.runDir, 'model'));
    const b = await readModelArtifacts(path.join(resumed.runDir, 'model'));
    expect(Buffer.from(b.weightData as ArrayBuffer).equals(Buffer.from(a.weightData as ArrayBuffer))).toBe(true);
    const lastValid = async (dir: string) =>
      (await readLines(path.join(dir, 'metrics.jsonl'))).filter((m) => m.key === 'valid_rmse').map((m) => m.value);
    expect(await lastValid(resumed.runDir)).toEqual(await lastValid(whole.runDir));
  });

  it('Ctrl-C marks the run killed, exits 130 without a stack trace and keeps the checkpoint', async () => {
    const config = await writeConfig(
      'interrupted',
      `train:
  size: 24
  batch_size: 8
  workers: 0
  phases: [{epochs: 30}]
`,
    );
    const child = spawn(process.execPath, [BIN, 'run', config], { cwd: tmpDir() });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const runDir = await firstCheckpoint('interrupted', 250);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    const meta = JSON.parse(await fs.readFile(path.join(runDir, 'meta.json'), 'utf8'));
    expect(meta.status).toBe('KILLED');
    expect(await exists(path.join(runDir, 'checkpoint', 'model', 'model.json'))).toBe(true);
  });
});

/** Resolves with the run folder whose name contains `name` once its first checkpoint exists. */
async function firstCheckpoint(name: string, pollMs: number): Promise<string> {
  const runsDir = path.join(tmpDir(), 'runs');
  for (let waited = 0; waited < 300_000; waited += pollMs) {
    for (const d of await fs.readdir(runsDir).catch(() => [] as string[])) {
      if (d.includes(name) && (await exists(path.join(runsDir, d, 'checkpoint', 'state.json')))) return path.join(runsDir, d);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`no checkpoint of a "${name}" run appeared in ${runsDir}`);
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
