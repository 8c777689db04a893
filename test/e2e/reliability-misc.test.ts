// The smaller reliability findings: non-numeric image names in a submission, predicting from a
// killed run, and a plugin module that throws while loading. (A silent MLflow server at start:
// test/e2e/mlflow.test.ts.)
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { predictToCsv, loadPredictor } from '../../src/galaxy/predict.js';
import { saveModel } from '../../src/framework/model-io.js';
import { loadExperiment } from '../../src/framework/config/load.js';
import { createRegistry } from '../../src/plugins/index.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { tinyModel } from '../predict-tiny-run.js';

const tmpDir = useTmpDir('gzx-misc-');

async function jpeg(file: string): Promise<void> {
  await fs.writeFile(
    file,
    await sharp({ create: { width: 32, height: 32, channels: 3, background: '#303030' } })
      .jpeg()
      .toBuffer(),
  );
}

describe('predict', () => {
  it('refuses images whose names are not numeric GalaxyIDs before scoring anything', async () => {
    const images = path.join(tmpDir(), 'ids');
    await fs.mkdir(images);
    await jpeg(path.join(images, '100008.jpg'));
    await jpeg(path.join(images, 'galaxy_abc.jpg'));
    const err = await predictToCsv({ model: path.join(tmpDir(), 'no-model'), images, out: path.join(tmpDir(), 'sub.csv') }).catch((e) => e);
    expect(err.name).toBe('UserError');
    expect(err.message).toBe(
      `--images ${images}: 1 image is not named <GalaxyID>.jpg with a numeric GalaxyID: galaxy_abc.jpg. ` +
        'Rename or move it: a Kaggle submission has one row per numeric GalaxyID.',
    );
  });

  it('a killed run folder says so and how to go on; its checkpoint predicts', async () => {
    const run = path.join(tmpDir(), 'runs', '20261203-010000-killed');
    await fs.mkdir(run, { recursive: true });
    await fs.writeFile(
      path.join(run, 'meta.json'),
      JSON.stringify({ runId: '20261203-010000-killed', runName: 'killed', status: 'RUNNING', startTime: 1, tags: {} }),
    );
    await fs.writeFile(path.join(run, 'config.yaml'), 'data: {with: {crop: null}}\ntrain: {size: 32, phases: [{size: 32}]}\n');
    const model = tinyModel();
    await saveModel(model, path.join(run, 'checkpoint', 'model'));
    model.dispose();
    await fs.writeFile(path.join(run, 'checkpoint', 'state.json'), JSON.stringify({ epoch: 2, phase: 0, epochInPhase: 2, step: 20 }));
    const err = await loadPredictor(run).catch((e) => e);
    expect(err.message).toBe(
      `--model ${run}: this run has no final model: it is still running or was killed after epoch 2. ` +
        `Continue it with \`gzx run --resume ${run}\`, or predict from its last checkpoint with --model ${path.join(run, 'checkpoint')}.`,
    );
    const predictor = await loadPredictor(path.join(run, 'checkpoint'));
    expect(predictor.size).toBe(32);
    predictor.model.dispose();
  });
});

describe('plugin modules', () => {
  it('one that throws while loading is told to fix its code, not its path', async () => {
    await fs.writeFile(path.join(tmpDir(), 'broken-plugin.mjs'), "throw new TypeError('boom in the plugin');\n");
    const file = path.join(tmpDir(), 'plugin.yaml');
    await fs.writeFile(file, 'name: p\nplugins: [./broken-plugin.mjs, ./missing-plugin.mjs]\ndata: {use: synthetic}\n');
    const err = await loadExperiment(file, [], createRegistry()).catch((e) => e);
    const [broken, missing] = err.message.split('\n').slice(1);
    expect(broken).toMatch(
      /plugins\.0: plugin module "\.\/broken-plugin\.mjs" \(.*broken-plugin\.mjs\) was found but failed while loading: TypeError: boom in the plugin\. Fix the error in the plugin's code/,
    );
    expect(broken).not.toContain('Fix the path');
    expect(missing).toMatch(/plugins\.1: cannot load plugin module "\.\/missing-plugin\.mjs" .*Fix the path \(relative to the config file\)\./);
  });
});
