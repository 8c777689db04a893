// The synthetic twin is learnable: a small CNN trained briefly on a few thousand synthetic galaxies
// ends well below the column-mean baseline (issue: "a model must be able to learn it").
import { expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { trainExperiment } from '../../src/app/experiment.js';
import { useTmpDir } from '../helpers/tmp-dir.js';

const tmpDir = useTmpDir('gzx-learn-');

it('a small CNN on 2000 synthetic galaxies reaches an RMSE well below the column-mean baseline', async () => {
  const config = path.join(tmpDir(), 'learn.yaml');
  await fs.writeFile(
    config,
    `name: learnability
seed: 11
output_dir: ${tmpDir()}/runs
data: {use: synthetic, with: {dir: ${tmpDir()}/data, count: 2000, size: 128, valid_fraction: 0.2}}
augment: [{use: flip}]
backbone: {use: simple-cnn, with: {channels: [16, 32, 64]}}
head: {use: galaxy-zoo, with: {ps: 0.1, hidden: 64}}
logger: []
train: {size: 32, batch_size: 32, lr: 0.005, workers: 1, cache_images: true, phases: [{epochs: 3}]}
`,
  );
  const result = await trainExperiment({ configFile: config, log: () => undefined });
  const { valid_rmse, baseline_rmse } = result.summary.final as Record<string, number>;
  expect(result.status).toBe('FINISHED');
  expect(valid_rmse).toBeLessThan(0.75 * baseline_rmse);
});
