import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { galaxyZooHead, createGalaxyZooHead, HEAD_LAYER, type GalaxyZooHeadOptions } from '../../../src/plugins/head/galaxy-zoo.js';
import { ConcatPool } from '../../../src/vision/layers/index.js';
import { GALAXY_NORMALISE, galaxyNormalise } from '../../../src/galaxy/layers/galaxy-normalisation.js';
import { hostKernels } from '../../../src/runtime/kernels/host/op.js';
import { builtinPlugins } from '../../../src/plugins/index.js';
import { COLUMNS, NUM_COLUMNS, QUESTIONS, normaliseAnswers } from '../../../src/galaxy/tree.js';
import { SeededRng } from '../../../src/base/random.js';
import { HAND_INPUT, HAND_OUTPUT, REAL_LIKE_LABEL } from '../../fixtures/csv/galaxy-rows.js';

const defaults: GalaxyZooHeadOptions = { ps: 0.25, hidden: 8, pool: 'concat', normalise: true };

function tinyModel(options: Partial<GalaxyZooHeadOptions> = {}) {
  const head = createGalaxyZooHead({ ...defaults, ...options });
  const input = tf.input({ shape: [null, null, 3], name: 'image' });
  const features = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu', name: 'body_conv' })
    .apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: head.build(tf, features) });
  return { head, model };
}

function randomRows(n: number, seed: number, lo = -1, hi = 2): number[][] {
  const rng = new SeededRng(seed);
  return Array.from({ length: n }, () => Array.from({ length: NUM_COLUMNS }, () => rng.uniform(lo, hi)));
}

/**
 * Each question sums to its parent weight; the exception the spec implies is a question whose raw
 * outputs are all <= 0: it is clipped to all zeros. `raw` (the layer's input) tells those apart.
 */
function expectObeysTree(rows: number[][], raw: number[][], tol: number) {
  rows.forEach((row, r) => {
    for (const q of QUESTIONS) {
      const sum = row.slice(q.start, q.start + q.answers.length).reduce((a, b) => a + b, 0);
      const alive = raw[r].slice(q.start, q.start + q.answers.length).some((v) => v > 0);
      const weight = alive ? (q.parent === null ? 1 : row[q.parent]) : 0;
      expect(Math.abs(sum - weight), `row ${r} Q${q.number} sums to ${sum}, expected ${weight}`).toBeLessThan(tol);
    }
    for (const v of row) expect(v >= 0 && v <= 1 + 1e-6).toBe(true);
  });
}

function deadShare(raw: number[][]): number {
  let dead = 0;
  for (const row of raw) for (const q of QUESTIONS) if (!row.slice(q.start, q.start + q.answers.length).some((v) => v > 0)) dead++;
  return dead / (raw.length * QUESTIONS.length);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('galaxy-zoo head plugin', () => {
  it('is registered as a built-in head', () => {
    expect(builtinPlugins.some((p) => p.kind === 'head' && p.name === 'galaxy-zoo')).toBe(true);
  });

  it('options schema fills fastai defaults and rejects bad values', () => {
    const ajv = new Ajv2020({ useDefaults: true, allErrors: true });
    const validate = ajv.compile(galaxyZooHead.optionsSchema);
    const opts: Record<string, unknown> = {};
    expect(validate(opts)).toBe(true);
    expect(opts).toEqual({ ps: 0.25, hidden: 512, pool: 'concat', normalise: true });
    expect(validate({ ps: 1 })).toBe(false);
    expect(validate({ pool: 'max' })).toBe(false);
    expect(validate({ hidden: 1.5 })).toBe(false);
    expect(validate({ dropout: 0.1 })).toBe(false);
  });

  it('builds the fastai layer sequence, all named head_*, for any image size', async () => {
    const head = await galaxyZooHead.create({ ps: 0.5, hidden: 8, pool: 'concat', normalise: true }, {} as never);
    const input = tf.input({ shape: [null, null, 3] });
    const features = tf.layers.conv2d({ filters: 4, kernelSize: 3 }).apply(input) as tf.SymbolicTensor;
    const out = head.build(tf, features);
    const model = tf.model({ inputs: input, outputs: out });
    const names = head.layerNames();
    expect(names).toEqual([
      'head_pool',
      'head_bn1',
      'head_dropout1',
      'head_dense1',
      'head_relu',
      'head_bn2',
      'head_dropout2',
      'head_dense2',
      'head_normalise',
    ]);
    const modelNames = model.layers.map((l) => l.name);
    expect(modelNames.slice(-names.length)).toEqual(names);
    expect(model.getLayer(HEAD_LAYER.pool).outputShape).toEqual([null, 8]); // max ‖ avg of 4 channels
    expect(model.getLayer(HEAD_LAYER.dense1).outputShape).toEqual([null, 8]);
    expect(model.getLayer(HEAD_LAYER.dropout1).getConfig().rate).toBe(0.25);
    expect(model.getLayer(HEAD_LAYER.dropout2).getConfig().rate).toBe(0.5);
    for (const size of [12, 31]) {
      const y = model.predict(tf.randomUniform([2, size, size, 3], 0, 1, 'float32', 7)) as tf.Tensor;
      expect(y.shape).toEqual([2, NUM_COLUMNS]);
      y.dispose();
    }
    model.dispose();
  });

  it('predictions obey the tree: each question sums to its parent weight', () => {
    const { model } = tinyModel({ hidden: 32 });
    const rawModel = tf.model({ inputs: model.inputs, outputs: model.getLayer(HEAD_LAYER.dense2).output as tf.SymbolicTensor });
    const x = tf.randomUniform([16, 20, 20, 3], 0, 1, 'float32', 3);
    const y = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const raw = (rawModel.predict(x) as tf.Tensor).arraySync() as number[][];
    expectObeysTree(y, raw, 1e-6);
    // The initialisation keeps questions alive: an untrained head already gives a full tree.
    expect(deadShare(raw)).toBeLessThan(0.02);
    for (const row of y) expect(row[0] + row[1] + row[2]).toBeCloseTo(1, 5);
    model.dispose();
  });

  it('the concat pool is max then average over the spatial axes', () => {
    const x = tf.tensor4d([1, 10, 2, 20, 3, 30, 6, 0], [1, 2, 2, 2]); // 2×2 map, 2 channels
    const pooled = new ConcatPool({ name: 'pool_probe' }).apply(x) as tf.Tensor;
    expect(Array.from(pooled.dataSync())).toEqual([6, 30, 3, 15]);
  });

  it('pool avg and normalise false build a plain linear 37-output head', () => {
    const { head, model } = tinyModel({ pool: 'avg', normalise: false });
    expect(head.layerNames()).not.toContain(HEAD_LAYER.normalise);
    expect(model.getLayer(HEAD_LAYER.pool).outputShape).toEqual([null, 4]);
    expect(model.layers[model.layers.length - 1].name).toBe(HEAD_LAYER.dense2);
    model.dispose();
  });

  it('setDropout changes both rates in place (first p/2, last p) and is used in training', () => {
    const { head, model } = tinyModel();
    head.setDropout(model, 0.6);
    expect(model.getLayer(HEAD_LAYER.dropout1).getConfig().rate).toBeCloseTo(0.3);
    expect(model.getLayer(HEAD_LAYER.dropout2).getConfig().rate).toBeCloseTo(0.6);
    // With dropout the training-mode activations after the dropout layer contain zeros; with 0 they do not.
    const probe = tf.model({ inputs: model.inputs, outputs: model.getLayer(HEAD_LAYER.dropout2).output as tf.SymbolicTensor });
    const x = tf.randomUniform([32, 10, 10, 3], 0, 1, 'float32', 1); // 256 activations: the dropped share is near 0.6
    const zerosAt = () => {
      const out = (probe.apply(x, { training: true }) as tf.Tensor).dataSync();
      const relu = (
        tf
          .model({ inputs: model.inputs, outputs: model.getLayer(HEAD_LAYER.bn2).output as tf.SymbolicTensor })
          .apply(x, { training: true }) as tf.Tensor
      ).dataSync();
      let dropped = 0;
      out.forEach((v, i) => (dropped += v === 0 && relu[i] !== 0 ? 1 : 0));
      return dropped / out.length;
    };
    expect(zerosAt()).toBeGreaterThan(0.3);
    head.setDropout(model, 0);
    expect(zerosAt()).toBe(0);
    expect(() => head.setDropout(model, 1)).toThrow();
    model.dispose();
  });

  it('saves and loads again with tf.loadLayersModel, with the same outputs and dropout', async () => {
    const { head, model } = tinyModel();
    head.setDropout(model, 0.4);
    let saved: tf.io.ModelArtifacts | null = null;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    expect(loaded.layers.map((l) => l.getClassName())).toContain('GzxConcatPool');
    expect(loaded.layers.map((l) => l.getClassName())).toContain('GzxGalaxyNormalisation');
    expect(loaded.getLayer(HEAD_LAYER.dropout2).getConfig().rate).toBeCloseTo(0.4);
    const x = tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 11);
    const a = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const b = (loaded.predict(x) as tf.Tensor).arraySync() as number[][];
    a.forEach((row, r) => row.forEach((v, c) => expect(b[r][c]).toBeCloseTo(v, 6)));
    model.dispose();
    loaded.dispose();
  });
});

// The same checks for both ways the layer computes: tensor ops (GPUs; here the cpu backend) and the
// one JavaScript kernel the host-memory backends get, registered for cpu for the second round.
describe.each([
  { how: 'tensor ops', kernel: false },
  { how: 'the gzx kernel', kernel: true },
])('GalaxyNormalisation layer, $how', ({ kernel }) => {
  beforeAll(() => {
    if (kernel) for (const config of hostKernels('cpu')) tf.registerKernel(config);
    return () => {
      if (kernel) for (const config of hostKernels('cpu')) tf.unregisterKernel(config.kernelName, 'cpu');
    };
  });

  it(kernel ? 'runs as one kernel forward and one backward' : 'runs as tensor ops', async () => {
    const x = tf.tensor2d(randomRows(4, 3));
    const { kernels } = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.sum(galaxyNormalise(v as tf.Tensor2D)))(x));
    const names = kernels.map((k) => k.name);
    if (kernel) expect(names.filter((n) => n.startsWith(GALAXY_NORMALISE))).toEqual([GALAXY_NORMALISE, `${GALAXY_NORMALISE}Grad`]);
    else expect(names).not.toContain(GALAXY_NORMALISE);
    expect(names.includes('BatchMatMul')).toBe(!kernel);
  });

  it('gives the hand-computed output', () => {
    const out = galaxyNormalise(tf.tensor2d([HAND_INPUT])).arraySync()[0];
    out.forEach((v, i) => expect(v, COLUMNS[i]).toBeCloseTo(HAND_OUTPUT[i], 6));
  });

  it('equals normaliseAnswers on random inputs (with negatives)', () => {
    const rows = randomRows(64, 42);
    const layer = galaxyNormalise(tf.tensor2d(rows)).arraySync();
    const plain = normaliseAnswers(rows);
    for (let r = 0; r < rows.length; r++) for (let c = 0; c < NUM_COLUMNS; c++) expect(Math.abs(layer[r][c] - plain[r][c])).toBeLessThan(1e-6);
    expectObeysTree(layer, rows, 1e-6);
    expect(deadShare(rows)).toBeGreaterThan(0); // the random rows do include clipped questions
  });

  it('leaves a real label vector unchanged (fixed point)', () => {
    const out = galaxyNormalise(tf.tensor2d([REAL_LIKE_LABEL])).arraySync()[0];
    out.forEach((v, i) => expect(Math.abs(v - REAL_LIKE_LABEL[i]), COLUMNS[i]).toBeLessThan(1e-5));
  });

  it('has the gradient of normaliseAnswers (central differences in double precision)', () => {
    const rows = randomRows(3, 17, 0.2, 2); // away from the clip at 0, where the derivative jumps
    const weights = randomRows(3, 18, -1, 1);
    const loss = (r: number[][]) => normaliseAnswers(r).reduce((s, row, i) => s + row.reduce((t, v, j) => t + v * weights[i][j], 0), 0);
    const g = tf
      .grad((x: tf.Tensor) => tf.sum(tf.mul(galaxyNormalise(x as tf.Tensor2D), tf.tensor2d(weights))))(tf.tensor2d(rows))
      .arraySync() as number[][];
    const h = 1e-6;
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < NUM_COLUMNS; j++) {
        const up = rows.map((r) => [...r]);
        const down = rows.map((r) => [...r]);
        up[i][j] += h;
        down[i][j] -= h;
        const numeric = (loss(up) - loss(down)) / (2 * h);
        expect(Math.abs(g[i][j] - numeric), `row ${i} ${COLUMNS[j]}`).toBeLessThan(1e-4);
      }
    }
  });

  it('has finite, non-zero gradients, also where a whole question is clipped to zero', () => {
    const rows = [...randomRows(8, 5), HAND_INPUT];
    const target = tf.tensor2d(normaliseAnswers(randomRows(rows.length, 9, 0, 1)));
    const lossOf = (x: tf.Tensor) => tf.mean(tf.square(tf.sub(galaxyNormalise(x as tf.Tensor2D), target))) as tf.Scalar;
    const g = tf.grad(lossOf)(tf.tensor2d(rows));
    const values = g.dataSync();
    expect(values.every((v) => Number.isFinite(v))).toBe(true);
    expect(values.some((v) => v !== 0)).toBe(true);
  });
});
