// Callbacks as plugins (`callbacks: [{use: early-stopping, with: {patience: 3}}]`): the built-ins
// against a Learner, from YAML in a run, and errors that name the callback and its event.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Learner, type Callback } from '../../src/framework/learner.js';
import { Optimizer } from '../../src/framework/optimizers.js';
import { withSeededRandom } from '../../src/runtime/math-random-scope.js';
import { constantSchedule } from '../../src/plugins/schedule/constant.js';
import { earlyStoppingCallback } from '../../src/plugins/callback/early-stopping.js';
import { saveBestCallback } from '../../src/plugins/callback/save-best.js';
import { gradientClippingCallback } from '../../src/plugins/callback/gradient-clipping.js';
import type { Schedule } from '../../src/framework/contracts.js';
import type { PluginContext } from '../../src/framework/plugin.js';
import { trainExperiment } from '../../src/app/experiment.js';
import { MemoryData } from '../helpers/memory-data.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { UserError } from '../../src/base/errors.js';
import { loadExperiment } from '../../src/framework/config/load.js';
import { createRegistry } from '../../src/plugins/index.js';
import { REPO } from '../helpers/paths.js';

const tmpDir = useTmpDir('gzx-callbacks-');
const said: string[] = [];
const ctx = () => ({ tf, seed: 1, runDir: tmpDir(), configDir: tmpDir(), log: (m: string) => said.push(m) }) as unknown as PluginContext;
const constant = constantSchedule.create({} as never, {} as never) as Schedule;

/** A dense model on flattened 8-px images, trained with plain SGD (no momentum: a step moves weights by lr·gradient). */
function learner(callbacks: Callback[], epochs: number, lr = 0.1): Learner {
  const model = withSeededRandom(3, () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const out = tf.layers.dense({ units: 37 }).apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  });
  return new Learner({
    model,
    data: new MemoryData(8, 8),
    optimizer: new Optimizer({ name: 'sgd', wd: 0, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0, nesterov: false }),
    phases: [{ name: 'p', epochs, size: 8, freeze: 'none', lr, batch_size: 8, schedule: constant }],
    layerGroups: [],
    accumulate: 1,
    validBatchSize: 8,
    seed: 1,
    callbacks,
    compile: false,
  });
}

/** Stands in for the galaxy metrics: valid_rmse per epoch from a list. */
const scripted = (values: number[]): Callback => ({
  name: 'scripted',
  afterValidate: (l) => void (l.state.metrics.valid_rmse = values[l.state.epoch]),
});

describe('built-in callback plugins', () => {
  it('early-stopping ends the fit as finished after `patience` epochs without improvement', async () => {
    const events: string[] = [];
    const l = learner(
      [
        scripted([0.5, 0.4, 0.45, 0.41, 0.3, 0.2]),
        earlyStoppingCallback.create({ monitor: 'valid_rmse', mode: 'min', min_delta: 0, patience: 2 }, ctx()) as Callback,
        { name: 'events', afterEpoch: (x) => void events.push(`epoch ${x.state.epoch + 1}`), afterFit: () => void events.push('afterFit') },
      ],
      6,
    );
    await l.fit();
    expect(events).toEqual(['epoch 1', 'epoch 2', 'epoch 3', 'epoch 4', 'afterFit']);
    expect(l.stopReason).toBe('valid_rmse has not improved for 2 epochs (best 0.4000 at epoch 2; early-stopping, patience 2)');
  });

  it('save-best writes the model of each better epoch only, where predict can read it', async () => {
    said.length = 0;
    const l = learner(
      [
        scripted([0.5, 0.4, 0.45]),
        saveBestCallback.create({ monitor: 'valid_rmse', mode: 'min', min_delta: 0, dir: 'best-model' }, ctx()) as Callback,
      ],
      3,
    );
    await l.fit();
    expect(said).toEqual([
      `best model so far (valid_rmse 0.5000, epoch 1) saved to ${path.join(tmpDir(), 'best-model')}`,
      `best model so far (valid_rmse 0.4000, epoch 2) saved to ${path.join(tmpDir(), 'best-model')}`,
    ]);
    expect(JSON.parse(await fs.readFile(path.join(tmpDir(), 'best-model', 'model.json'), 'utf8')).format).toBe('layers-model');
  });

  it('a monitor the run never logs is one clear error, not a crash', async () => {
    const l = learner([earlyStoppingCallback.create({ monitor: 'valid_rmse', mode: 'min', min_delta: 0, patience: 2 }, ctx()) as Callback], 1);
    const err = await l.fit().catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/early-stopping: the run logs no metric "valid_rmse" \(it logs data_wait_pct\); .* or give the run a validation set/);
  });

  it('gradient-clipping bounds each step by lr × max_norm (plain SGD)', async () => {
    const maxNorm = 1e-3;
    const lr = 0.1;
    const l = learner([gradientClippingCallback.create({ max_norm: maxNorm }, ctx()) as Callback], 1, lr);
    const before = l.model.getWeights().map((w) => w.dataSync().slice());
    await l.fit();
    const after = l.model.getWeights().map((w) => w.dataSync());
    let sq = 0;
    before.forEach((b, i) => b.forEach((v, j) => (sq += (after[i][j] - v) ** 2)));
    // Unclipped, the first step moves these weights by far more (the gradient norm is ~1).
    expect(Math.sqrt(sq)).toBeCloseTo(lr * maxNorm, 6);
  });

  it('an unexpected error in a callback names the callback and the event', async () => {
    const l = learner(
      [
        {
          name: 'my-callback',
          beforeStep: () => {
            throw new TypeError('x is undefined');
          },
        },
      ],
      1,
    );
    const err = await l.fit().catch((e) => e);
    expect(err.message).toBe('callback "my-callback" failed in beforeStep: x is undefined');
  });
});

describe('callbacks: in a config', () => {
  it('runs the named plugins, and an unknown name lists the callbacks there are', async () => {
    const config = path.join(tmpDir(), 'cb.yaml');
    const body = (callbacks: string) => `name: cb
seed: 2
output_dir: ${tmpDir()}/runs
data: {use: synthetic, with: {dir: ${tmpDir()}/data, count: 40, size: 64, valid_fraction: 0.25}}
backbone: {use: simple-cnn, with: {channels: [4, 8]}}
head: {use: galaxy-zoo, with: {ps: 0.1, hidden: 8}}
logger: []
callbacks: ${callbacks}
train: {size: 16, batch_size: 10, workers: 0, phases: [{epochs: 2}]}
`;
    await fs.writeFile(
      config,
      body('[{use: save-best}, {use: gradient-clipping, with: {max_norm: 1.0}}, {use: early-stopping, with: {patience: 5}}]'),
    );
    const result = await trainExperiment({ configFile: config, log: () => undefined });
    expect(result.status).toBe('FINISHED');
    await fs.access(path.join(result.runDir, 'best-model', 'model.json'));
    await fs.writeFile(config, body('[{use: early-stoping}]'));
    const err = await trainExperiment({ configFile: config, log: () => undefined }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/callbacks\.0\.use.*early-stoping.*Did you mean "early-stopping"/s);
  });
});

describe('loss-spikes example plugin (kind callback, plain JS, imports nothing from gzx)', () => {
  it('loads from a config, validates its options, and reports a spiking step', async () => {
    const module = path.join(REPO, 'examples/plugins/loss-spikes/index.js');
    const config = path.join(tmpDir(), 'spikes.yaml');
    await fs.writeFile(
      config,
      `plugins: [${JSON.stringify(module)}]
data: {use: synthetic}
backbone: {use: simple-cnn}
head: {use: galaxy-zoo}
callbacks: [{use: loss-spikes, with: {factor: 2}}]
`,
    );
    const registry = createRegistry();
    const { config: resolved } = await loadExperiment(config, [], registry);
    expect(resolved.callbacks).toEqual([{ use: 'loss-spikes', with: { factor: 2, warmup: 10 } }]);
    const lines: string[] = [];
    const cb = (await registry
      .get('callback', 'loss-spikes')
      .create(resolved.callbacks[0].with, { ...ctx(), log: (m: string) => lines.push(m) })) as Callback;
    const losses = [...Array(12).fill(0.1), 0.5, 0.1];
    losses.forEach((loss, step) =>
      cb.afterBatch!({ state: { loss, phaseIndex: 0, epochInPhase: 1, batchInEpoch: step, lr: 0.003 } } as unknown as Learner),
    );
    expect(lines).toEqual(['loss spike: 0.5000 against a running average of 0.1000 (phase 1, epoch 2, step 13, lr 3.00e-3)']);
    await fs.writeFile(config, (await fs.readFile(config, 'utf8')).replace('factor: 2', 'factor: 1'));
    const err = await loadExperiment(config, [], createRegistry()).catch((e) => e);
    expect(err.message).toMatch(/spikes\.yaml:5:\d+: callbacks\.0\.with\.factor: expected a number > 1, got 1/);
  });
});
