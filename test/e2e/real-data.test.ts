// Real galaxies are learnable: on real-1000 (1,000 real Kaggle images, 17 of 37 columns known) a small
// CNN trained for a bounded number of steps ends clearly below the column-mean baseline, scored on the
// known cells only. The data lives in ../shared beside the checkout (as in CI), not in a user's clone:
// there the test is skipped and says why; under CI=true a missing ../shared fails it instead.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { trainExperiment } from '../../src/app/experiment.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { REPO } from '../helpers/paths.js';
import { nativeRequired } from '../helpers/native.js';

const REAL = process.env.GZX_REAL_DIR ?? path.resolve(REPO, '..', 'shared', 'galaxy-zoo', 'real-1000');
const present = existsSync(path.join(REAL, 'training_solutions_partial.csv'));
const ci = process.env.CI === 'true';

/**
 * The bound: valid_rmse < 0.9 × baseline_rmse after 8 epochs (200 steps of 32 images). Measured
 * before choosing it (this config, native TensorFlow, seeds 5, 1, 2): valid_rmse 0.1435–0.1479
 * against a baseline of 0.1825, 0.79–0.81 × baseline; the seed spread is about 0.025 × baseline, so
 * 0.9 leaves three to four spreads of margin while failing a model that learns nothing (1.0 ×) or
 * little more than the column means. With 5 epochs it measured 0.83–0.86 × over six seeds: too close.
 */
const MAX_RATIO = 0.9;

const tmpDir = useTmpDir('gzx-real-');

describe('real galaxies (../shared/galaxy-zoo/real-1000)', () => {
  if (!present && !ci) {
    it.skip(`skipped: ${REAL} is not beside this checkout (it ships in the project's shared/ folder, not in a clone; set GZX_REAL_DIR to run it)`, () => {});
    return;
  }

  it('a small CNN trained for 200 steps ends clearly below the column-mean baseline on the known columns', async () => {
    expect(present, `${REAL} is missing: CI runs this test on the real images in shared/ beside the checkout`).toBe(true);
    const config = path.join(tmpDir(), 'real.yaml');
    await fs.writeFile(
      config,
      `name: real-learnability
seed: 5
output_dir: ${tmpDir()}/runs
backend: ${nativeRequired ? 'tensorflow' : 'auto'}
data:
  use: kaggle-galaxy-zoo
  with: {dir: ${REAL}, csv: training_solutions_partial.csv, crop: 224, valid_fraction: 0.2, split_seed: 0}
augment: [{use: flip}, {use: rotate, with: {min_degrees: 0, max_degrees: 360}}]
backbone: {use: simple-cnn, with: {channels: [16, 32, 64, 128]}}
head: {use: galaxy-zoo, with: {ps: 0.1, hidden: 128}}
logger: []
train: {size: 64, batch_size: 32, lr: 0.003, cache_images: true, phases: [{epochs: 8}]}
`,
    );
    const said: string[] = [];
    const result = await trainExperiment({ configFile: config, log: (m) => said.push(m) });
    expect(result.status).toBe('FINISHED');
    const { valid_rmse, baseline_rmse } = result.summary.final as Record<string, number>;
    expect(said.join('\n')).toContain('labels: 17 of 37 columns known (no answer known for Q3, Q4, Q5, Q9, Q10, Q11)');
    expect(result.summary.metric_notes).toEqual({ valid_rmse: '17 of 37 columns known', baseline_rmse: '17 of 37 columns known' });
    expect(Object.keys(result.summary.final as object).filter((k) => k.startsWith('valid_rmse_q'))).toEqual([
      'valid_rmse_q1',
      'valid_rmse_q2',
      'valid_rmse_q6',
      'valid_rmse_q7',
      'valid_rmse_q8',
    ]);
    expect(valid_rmse).toBeLessThan(MAX_RATIO * baseline_rmse);
  }, 300_000);
});
