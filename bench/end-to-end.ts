// Training from real JPEGs through the whole product (`gzx run` in a child process): training img/s
// with the image pipeline feeding the model, and the share of each epoch's training time spent
// waiting for images (`data_wait_pct`, measured by the Learner). Says whether the pipeline is the
// bottleneck of training, per model, backend, worker count and cache setting.
// The sample's 65 real 424-px JPEGs are repeated to 1625 images (1462 for training) (labels from the synthetic
// generator: throughput does not depend on them). Epoch 1 decodes; epoch 2 reads the cache if on.
// Run: npm run bench (all benches), or `npm run build && npx vite-node bench/end-to-end.ts --e2e-table`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackends } from '../src/runtime/backend.js';
import { SOLUTIONS_FILE, TRAIN_IMAGES_DIR, syntheticLabels } from '../src/galaxy/synth/dataset.js';
import { writeSolutionsCsv } from '../src/galaxy/csv.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SAMPLE_DIR = process.env.GZX_SAMPLE_DIR ?? path.resolve(ROOT, '..', 'shared', 'galaxy-zoo', 'sample');
const REPEATS = 25;

interface Case {
  id: string;
  label: string;
  backend: 'tensorflow' | 'wasm';
  backbone: string;
  size: number;
  batch: number;
  workers: number;
  cache: boolean | 'disk';
  /** Steps per epoch (0 = all): the slow models measure a part of each epoch. */
  maxSteps: number;
}

const CNN = '{use: simple-cnn, with: {channels: [16, 32, 64, 128]}}';
const R18 = '{use: resnet, with: {depth: 18}}';
const R50 = '{use: resnet, with: {depth: 50}}';

function cases(native: boolean): Case[] {
  const cnn = (backend: Case['backend'], workers: number, cache: Case['cache']): Case => ({
    id: `${backend}.cnn64.w${workers}${cache === 'disk' ? '.disk' : cache ? '.cache' : ''}`,
    label: `simple-cnn @64 b32, ${workers} worker${workers === 1 ? '' : 's'}, ${cache === 'disk' ? 'disk cache, 2nd run' : `cache ${cache ? 'on' : 'off'}`}`,
    backend,
    backbone: CNN,
    size: 64,
    batch: 32,
    workers,
    cache,
    maxSteps: 0,
  });
  const list: Case[] = [];
  if (native) {
    list.push(cnn('tensorflow', 1, false), cnn('tensorflow', 1, true), cnn('tensorflow', 2, false), cnn('tensorflow', 2, true));
    list.push(cnn('tensorflow', 1, 'disk'));
    list.push({
      id: 'tensorflow.r18_64.w1.cache',
      label: 'ResNet18 @64 b16, 1 worker, cache on',
      backend: 'tensorflow',
      backbone: R18,
      size: 64,
      batch: 16,
      workers: 1,
      cache: true,
      maxSteps: 0,
    });
    list.push({
      id: 'tensorflow.r50_112.w1',
      label: 'ResNet50 @112 b8, 1 worker, cache off',
      backend: 'tensorflow',
      backbone: R50,
      size: 112,
      batch: 8,
      workers: 1,
      cache: false,
      maxSteps: 12,
    });
  }
  list.push(cnn('wasm', 1, false), cnn('wasm', 1, true));
  // GZX_BENCH_E2E=wasm.cnn64 runs only the cases whose id contains it.
  const only = process.env.GZX_BENCH_E2E;
  return only ? list.filter((c) => c.id.includes(only)) : list;
}

/** The sample JPEGs repeated under distinct ids, in the Kaggle layout the data source reads. */
async function sampleDataset(dir: string): Promise<void> {
  const jpegs = fs
    .readdirSync(SAMPLE_DIR)
    .filter((f) => f.endsWith('.jpg'))
    .sort();
  if (!jpegs.length) throw new Error(`no JPEGs in ${SAMPLE_DIR} (set GZX_SAMPLE_DIR)`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, TRAIN_IMAGES_DIR), { recursive: true });
  const ids: string[] = [];
  const rows: number[][] = [];
  for (let r = 0; r < REPEATS; r++) {
    for (const f of jpegs) {
      const id = String(100000 + ids.length);
      fs.symlinkSync(path.join(SAMPLE_DIR, f), path.join(dir, TRAIN_IMAGES_DIR, `${id}.jpg`));
      ids.push(id);
      rows.push(syntheticLabels(1, ids.length));
    }
  }
  await writeSolutionsCsv(path.join(dir, SOLUTIONS_FILE), ids, rows);
}

interface EpochFigures {
  imagesPerSec: number;
  dataWaitPct: number;
}

/**
 * One `gzx run` of two epochs; the per-epoch figures from its metrics.jsonl. With the disk cache,
 * a first run fills it and the figures are the second run's.
 */
function runCase(c: Case, dataDir: string, work: string): EpochFigures[] {
  if (c.cache === 'disk') runOnce(c, dataDir, work, 'fill');
  return runOnce(c, dataDir, work, 'measure');
}

function runOnce(c: Case, dataDir: string, work: string, tag: string): EpochFigures[] {
  const runs = path.join(work, 'runs', `${c.id}-${tag}`);
  const config = path.join(work, `${c.id}.yaml`);
  fs.writeFileSync(
    config,
    `name: bench-${c.id}
seed: 1
output_dir: ${runs}
backend: ${c.backend}
data: {use: kaggle-galaxy-zoo, with: {dir: ${dataDir}, valid_fraction: 0.1}}
augment: [{use: affine, with: {flip_horizontal: 0.5, flip_vertical: 0.5}}, {use: lighting}]
backbone: ${c.backbone}
head: {use: galaxy-zoo}
logger: []
train:
  size: ${c.size}
  batch_size: ${c.batch}
  workers: ${c.workers}
  cache_images: ${c.cache}
  cache_dir: ${path.join(work, 'image-cache')}
  max_steps_per_epoch: ${c.maxSteps}
  phases: [{epochs: 2}]
`,
  );
  const child = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'run', config], { cwd: ROOT, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`gzx run ${c.id} failed (${child.status}):\n${child.stderr || child.stdout}`);
  const [runDir] = fs.readdirSync(runs);
  const points = fs
    .readFileSync(path.join(runs, runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { key: string; value: number });
  const series = (key: string) => points.filter((p) => p.key === key).map((p) => p.value);
  const ips = series('images_per_sec');
  const wait = series('data_wait_pct');
  return ips.map((v, i) => ({ imagesPerSec: v, dataWaitPct: wait[i] }));
}

const round = (v: number) => Math.round(v * 10) / 10;

/** Flat metrics, `e2e.<backend>.<model>.<workers>[.cache].epoch<N>.{ips,wait_pct}`. */
export async function runEndToEndBench(): Promise<Record<string, number>> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-bench-e2e-'));
  try {
    const dataDir = path.join(work, 'data');
    await sampleDataset(dataDir);
    const native = (await describeBackends()).some((b) => b.backend === 'tensorflow' && b.loads);
    if (!native) process.stderr.write('e2e: the tensorflow backend does not load here (npm run setup:native); wasm only\n');
    const metrics: Record<string, number> = {};
    for (const c of cases(native)) {
      const epochs = runCase(c, dataDir, work);
      epochs.forEach((e, i) => {
        metrics[`e2e.${c.id}.epoch${i + 1}.ips`] = round(e.imagesPerSec);
        metrics[`e2e.${c.id}.epoch${i + 1}.wait_pct`] = round(e.dataWaitPct);
      });
      const line = epochs.map((e, i) => `epoch ${i + 1} ${round(e.imagesPerSec)} img/s, waiting ${round(e.dataWaitPct)} %`).join('; ');
      process.stderr.write(`${c.backend.padEnd(10)} ${c.label.padEnd(44)} ${line}\n`);
    }
    return metrics;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function formatEndToEndTable(metrics: Record<string, number>): string {
  const ids = [
    ...new Set(
      Object.keys(metrics)
        .filter((k) => k.startsWith('e2e.'))
        .map((k) => k.split('.epoch')[0].slice(4)),
    ),
  ];
  const rows = ids.map((id) => {
    const c = [...cases(true), ...cases(false)].find((x) => x.id === id);
    const cell = (n: number) => `${metrics[`e2e.${id}.epoch${n}.ips`]} (${metrics[`e2e.${id}.epoch${n}.wait_pct`]} %)`;
    return `| ${c?.backend ?? id.split('.')[0]} | ${c?.label ?? id} | ${cell(1)} | ${cell(2)} |`;
  });
  return ['| backend | model, pipeline | epoch 1 img/s (waiting) | epoch 2 img/s (waiting) |', '|---|---|---|---|', ...rows].join('\n');
}

// vite-node hides the script path from argv, so the table is asked for with a flag.
if (process.argv.includes('--e2e-table')) {
  runEndToEndBench().then(
    (m) => console.log(formatEndToEndTable(m)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
