// Loading pretrained weights by layer name from real Keras .h5 files (committed fixtures made once
// with Keras 2.15 / Keras 3.15) and from TensorFlow.js model folders.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/base/errors.js';
import { formatLoadReport, loadWeightsByName } from '../../../src/vision/weights/index.js';
import { buildResnet } from '../../../src/plugins/backbone/resnet.js';
import { FIXTURES as ALL_FIXTURES } from '../../helpers/paths.js';

const FIXTURES = path.join(ALL_FIXTURES, 'weights');
// Keras 2 save_weights() of a model with ResNet50 names at width 1/8 (8 stem channels), seeded
// random values; conv2_block1_2_conv has 9 filters instead of 8, extra_dense is not in ResNet.
const SUBSET_H5 = path.join(FIXTURES, 'resnet50-subset-w0125.h5');
const KERAS3_MODEL_H5 = path.join(FIXTURES, 'keras3-subset-model.h5');
const KERAS3_WEIGHTS_H5 = path.join(FIXTURES, 'keras3-subset.weights.h5');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-weights-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function resnet50(width: number, seed = 1): tf.LayersModel {
  const b = buildResnet(tf, { depth: 50, normalize: 'imagenet-caffe', width, seed });
  return tf.model({ inputs: b.inputs, outputs: b.features });
}

const values = (model: tf.LayersModel, layer: string, i: number) => Array.from(model.getLayer(layer).getWeights()[i].dataSync());
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function expectUserError(p: Promise<unknown>, ...parts: string[]): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  const message = (err as Error).message;
  for (const part of parts) expect(message).toContain(part);
  return message;
}

describe('Keras 2 legacy .h5', () => {
  it('sets exactly the same-named, same-shaped layers and reports the rest', async () => {
    const model = resnet50(0.125);
    const untouchedBefore = values(model, 'conv2_block1_2_conv', 0);
    const lines: string[] = [];
    const report = await loadWeightsByName(model, SUBSET_H5, (m) => lines.push(m));

    expect(report.matched.sort()).toEqual(['conv1_bn', 'conv1_conv', 'conv2_block1_0_conv', 'conv2_block1_1_bn', 'conv2_block1_1_conv'].sort());
    expect(report.unused).toEqual(['extra_dense']);
    const mismatch = report.skipped.find((s) => s.layer === 'conv2_block1_2_conv');
    expect(mismatch?.why).toBe('shape mismatch: model [3,3,8,8] [8] vs file [3,3,8,9] [9]');
    // Every other layer with weights is reported as absent from the file.
    const withWeights = model.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    expect(report.skipped.length).toBe(withWeights.length - 5);
    expect(report.skipped.filter((s) => s.why === 'missing in file').map((s) => s.layer)).toContain('conv5_block3_3_bn');

    // Values Keras printed when it wrote the file.
    expect(values(model, 'conv1_conv', 0).slice(0, 3)).toEqual([-0.04675425589084625, -0.38591137528419495, -1.093921184539795].map(Math.fround));
    expect(sum(values(model, 'conv1_conv', 0))).toBeCloseTo(43.80463286698796, 3);
    expect(values(model, 'conv1_bn', 3)).toEqual(
      [
        0.7142093181610107, 0.9550377130508423, 1.5821356773376465, 0.9125329852104187, 0.9754818677902222, 2.1006202697753906, 1.0672399997711182,
        1.6084259748458862,
      ].map(Math.fround),
    );
    expect(model.getLayer('conv2_block1_0_conv').getWeights()[0].shape).toEqual([1, 1, 8, 32]);
    expect(sum(values(model, 'conv2_block1_0_conv', 0))).toBeCloseTo(-12.289732002653182, 3);
    expect(values(model, 'conv2_block1_1_bn', 0).slice(0, 3)).toEqual(
      [-0.5979251861572266, -1.0948224067687988, 0.8526361584663391].map(Math.fround),
    );
    expect(values(model, 'conv2_block1_1_bn', 1).slice(0, 3)).toEqual(
      [-0.3778839111328125, -1.3756067752838135, 1.3458856344223022].map(Math.fround),
    );
    expect(values(model, 'conv2_block1_1_conv', 1)[3]).toBe(Math.fround(2.271615743637085));
    // The mismatched layer keeps its own initial values.
    expect(values(model, 'conv2_block1_2_conv', 0)).toEqual(untouchedBefore);

    expect(lines[0]).toMatch(/5 layers loaded, \d+ skipped, 1 in file unused/);
    expect(lines.join('\n')).toContain('conv2_block1_2_conv (shape mismatch: model [3,3,8,8] [8] vs file [3,3,8,9] [9])');
    expect(lines.join('\n')).toContain('unused (in file, not in model): extra_dense');
    model.dispose();
  });

  it('restricted to a list of layers, reports only those', async () => {
    const model = resnet50(0.125);
    const report = await loadWeightsByName(model, SUBSET_H5, () => {}, {
      layers: ['conv1_conv', 'conv1_bn', 'conv1_relu', 'conv2_block1_2_conv'],
    });
    expect(report.matched).toEqual(['conv1_conv', 'conv1_bn']);
    expect(report.skipped.map((s) => s.layer)).toEqual(['conv2_block1_2_conv']);
    // Layers in the file but outside the considered set count as unused.
    expect(report.unused.sort()).toEqual(['conv2_block1_0_conv', 'conv2_block1_1_bn', 'conv2_block1_1_conv', 'extra_dense'].sort());
    model.dispose();
  });
});

describe('Keras 3 files', () => {
  function smallModel(): tf.LayersModel {
    const input = tf.input({ shape: [16, 16, 3] });
    let x = tf.layers.zeroPadding2d({ padding: 3, name: 'conv1_pad' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 7, strides: 2, name: 'conv1_conv' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'conv1_bn' }).apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: x });
  }

  it('loads a full-model .h5 (weights under model_weights/)', async () => {
    const model = smallModel();
    const report = await loadWeightsByName(model, KERAS3_MODEL_H5, () => {});
    expect(report.format).toBe('Keras full-model .h5');
    expect(report.matched).toEqual(['conv1_conv', 'conv1_bn']);
    expect(report.unused).toEqual(['extra_dense']);
    expect(values(model, 'conv1_conv', 0).slice(0, 3)).toEqual([2.040919065475464, -2.5556650161743164, 0.4180988371372223].map(Math.fround));
    expect(values(model, 'conv1_conv', 1).slice(0, 2)).toEqual([0.4721352756023407, -0.06420072913169861].map(Math.fround));
    expect(values(model, 'conv1_bn', 0).slice(0, 2)).toEqual([-0.7816544771194458, 0.1515355259180069].map(Math.fround));
    expect(values(model, 'conv1_bn', 3).slice(0, 3)).toEqual([1.56144380569458, 0.9409761428833008, 1.2493008375167847].map(Math.fround));
    model.dispose();
  });

  it('refuses a .weights.h5 (layers keyed by class, not name) and says how to re-save', async () => {
    const model = smallModel();
    await expectUserError(
      loadWeightsByName(model, KERAS3_WEIGHTS_H5, () => {}),
      KERAS3_WEIGHTS_H5,
      "model.save('model.h5')",
    );
    model.dispose();
  });
});

describe('TensorFlow.js model folder', () => {
  /** Writes model.json + two weight shards, as tfjs' converter does for large models. */
  async function saveInTwoShards(model: tf.LayersModel, dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = Buffer.from(artifacts.weightData as ArrayBuffer);
        const cut = Math.floor(data.length / 2);
        fs.writeFileSync(path.join(dir, 'group1-shard1of2.bin'), data.subarray(0, cut));
        fs.writeFileSync(path.join(dir, 'group1-shard2of2.bin'), data.subarray(cut));
        const json = {
          format: 'layers-model',
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: artifacts.weightSpecs }],
        };
        fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
  }

  it('round-trips every layer of a ResNet into a fresh one', async () => {
    const source = resnet50(0.0625, 11);
    // Non-default BN statistics, so moving_mean/variance are really carried over.
    const bn = source.getLayer('conv3_block2_2_bn');
    bn.setWeights(bn.getWeights().map((w, i) => tf.fill(w.shape, 0.5 + i)));
    const dir = path.join(tmp, 'tfjs-model');
    await saveInTwoShards(source, dir);

    const target = resnet50(0.0625, 99);
    expect(values(target, 'conv1_conv', 0)).not.toEqual(values(source, 'conv1_conv', 0));
    const lines: string[] = [];
    const report = await loadWeightsByName(target, dir, (m) => lines.push(m));
    const withWeights = source.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    expect(report.format).toBe('TensorFlow.js folder');
    expect(report.matched.sort()).toEqual(withWeights.sort());
    expect(report.skipped).toEqual([]);
    expect(report.unused).toEqual([]);
    for (const name of ['conv1_conv', 'conv3_block2_2_bn', 'conv5_block3_3_conv']) {
      const a = source.getLayer(name).getWeights();
      const b = target.getLayer(name).getWeights();
      a.forEach((w, i) => expect(Array.from(b[i].dataSync())).toEqual(Array.from(w.dataSync())));
    }
    expect(values(target, 'conv3_block2_2_bn', 3)[0]).toBe(3.5);
    const x = tf.randomUniform([1, 40, 40, 3], 0, 1, 'float32', 5);
    const ya = (source.predict(x) as tf.Tensor).dataSync();
    const yb = (target.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(yb)).toEqual(Array.from(ya));
    expect(lines[0]).toContain(`${withWeights.length} layers loaded, 0 skipped, 0 in file unused`);
    source.dispose();
    target.dispose();
  });

  it('a run folder (runs/<id>) loads its model/ folder', async () => {
    const source = resnet50(0.0625, 5);
    const runDir = path.join(tmp, 'runs', 'some-run');
    await saveInTwoShards(source, path.join(runDir, 'model'));
    const target = resnet50(0.0625, 6);
    const report = await loadWeightsByName(target, runDir, () => {});
    expect(report.source).toBe(path.join(runDir, 'model'));
    expect(report.skipped).toEqual([]);
    expect(values(target, 'conv4_block1_0_conv', 0)).toEqual(values(source, 'conv4_block1_0_conv', 0));
    source.dispose();
    target.dispose();
  });

  it('a folder without model.json or with a missing shard is a UserError naming the file', async () => {
    const model = resnet50(0.0625);
    const empty = path.join(tmp, 'empty-folder');
    fs.mkdirSync(empty);
    await expectUserError(
      loadWeightsByName(model, empty, () => {}),
      path.join(empty, 'model.json'),
      'not found',
    );
    const dir = path.join(tmp, 'missing-shard');
    await saveInTwoShards(model, dir);
    fs.rmSync(path.join(dir, 'group1-shard2of2.bin'));
    await expectUserError(
      loadWeightsByName(model, dir, () => {}),
      path.join(dir, 'group1-shard2of2.bin'),
      'missing',
    );
    model.dispose();
  });
});

describe('user mistakes', () => {
  const model = resnet50(0.0625);
  afterAll(() => model.dispose());

  it('a missing path names it and the file to download', async () => {
    const missing = path.join(tmp, 'nope', 'resnet50.h5');
    await expectUserError(
      loadWeightsByName(model, missing, () => {}),
      missing,
      'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
      'backbone.with.pretrained',
    );
  });

  it('a file that is not HDF5 (e.g. an HTML error page saved as .h5) is refused without a libhdf5 dump', async () => {
    const fake = path.join(tmp, 'fake.h5');
    fs.writeFileSync(fake, '<html>403 Forbidden</html>');
    const message = await expectUserError(
      loadWeightsByName(model, fake, () => {}),
      fake,
      'not an HDF5 file',
    );
    expect(message.split('\n')).toHaveLength(1);
  });

  it("a truncated download names libhdf5's reason in one line", async () => {
    const cut = path.join(tmp, 'truncated.h5');
    fs.writeFileSync(cut, fs.readFileSync(path.join(FIXTURES, 'mini-resnet50-w003125.h5')).subarray(0, 200_000));
    const writeSync = fs.writeSync;
    const message = await expectUserError(
      loadWeightsByName(model, cut, () => {}),
      cut,
      'truncated file: eof = 200000',
      'download it again',
    );
    expect(message.split('\n')).toHaveLength(1);
    expect(fs.writeSync).toBe(writeSync);
  });

  it('an HDF5 file without Keras weights says so', async () => {
    const h5wasm = await import('h5wasm/node');
    await h5wasm.ready;
    const other = path.join(tmp, 'other.h5');
    const f = new h5wasm.File(other, 'w');
    f.create_dataset({ name: 'data', data: new Float32Array([1, 2, 3]) });
    f.close();
    await expectUserError(
      loadWeightsByName(model, other, () => {}),
      other,
      'no Keras weights',
    );
  });
});

describe('formatLoadReport', () => {
  it('truncates long lists so the console stays readable', () => {
    const lines = formatLoadReport({
      source: '/w.h5',
      format: 'Keras .h5',
      matched: ['a'],
      skipped: Array.from({ length: 12 }, (_, i) => ({ layer: `head_${i}`, why: 'missing in file' })),
      unused: ['x', 'y'],
    });
    expect(lines[0]).toBe('pretrained weights (Keras .h5) /w.h5: 1 layers loaded, 12 skipped, 2 in file unused');
    expect(lines[1]).toContain('head_7 (missing in file); … (4 more)');
    expect(lines[1]).not.toContain('head_8');
    expect(lines[2]).toBe('  unused (in file, not in model): x, y');
  });
});
