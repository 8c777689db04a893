// configs/resnet50-smoke.yaml runs every phase type of the pinned ResNet50 recipe on synthetic data.
import { expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { trainExperiment } from '../../src/app/experiment.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { REPO } from '../helpers/paths.js';

const repo = REPO;
const tmpDir = useTmpDir('gzx-smoke-');

it('the ResNet50 recipe, shrunk: frozen and unfrozen phases at two sizes, discriminative rates, dropout change', async () => {
  const result = await trainExperiment({
    configFile: path.join(repo, 'configs', 'resnet50-smoke.yaml'),
    sets: [`output_dir=${tmpDir()}/runs`, `data.with.dir=${tmpDir()}/data`, 'logger=[]'],
    log: () => undefined,
  });
  expect(result.status).toBe('FINISHED');
  const lines = (await fs.readFile(path.join(result.runDir, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean);
  const metrics = lines.map((l) => JSON.parse(l) as { key: string; value: number });
  expect(metrics.filter((m) => m.key === 'phase').map((m) => m.value)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(metrics.filter((m) => m.key === 'size').map((m) => m.value)).toEqual([32, 32, 48, 48, 48, 48]);
  expect(metrics.filter((m) => m.key === 'valid_rmse').every((m) => Number.isFinite(m.value))).toBe(true);
  const config = await fs.readFile(path.join(result.runDir, 'config.yaml'), 'utf8');
  expect(config).toMatch(/depth: 50/);
  expect(config).toMatch(/dropout: 0.25/);
});
