// The resnet backbone: Keras ResNet50 layout (names, shapes, parameter count, forward pass equal
// to Keras on a committed mini model), torchvision-style 18/34, any input size, save/reload.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import ajvModule from 'ajv/dist/2020.js';
import { newServiceContainer } from '../../../src/framework/services.js';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/runtime/backend.js';
import type { Backbone } from '../../../src/framework/contracts.js';
import { UserError } from '../../../src/base/errors.js';
import { saveModel } from '../../../src/framework/model-io.js';
import { spreadRates } from '../../../src/framework/learner.js';
import type { PluginContext } from '../../../src/framework/plugin.js';
import { builtinPlugins } from '../../../src/plugins/index.js';
import {
  InputNormalizationLayer,
  buildResnet,
  resnet50NameFrom2017,
  resnetBackbone,
  type ResnetOptions,
} from '../../../src/plugins/backbone/resnet.js';
import { REPO } from '../../helpers/paths.js';

const TEST_DIR = path.join(REPO, 'test');
const FIXTURES = path.join(TEST_DIR, 'fixtures', 'weights');

interface KerasLayer {
  name: string;
  class: string;
  weights: { name: string; shape: number[] }[];
}
// Written by keras.applications.ResNet50(weights=None, include_top=False) in TF 2.15.
const keras = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'keras-resnet50-notop-layers.json'), 'utf8')) as {
  params: number;
  layers: KerasLayer[];
};

function ctx(overrides: Partial<PluginContext> = {}): PluginContext {
  return {
    tf,
    seed: 7,
    runDir: os.tmpdir(),
    configDir: TEST_DIR,
    log: () => {},
    container: newServiceContainer(),
    ...overrides,
  };
}

function withDefaults(options: Partial<ResnetOptions>): ResnetOptions {
  const Ajv2020 = ajvModule.default;
  const validate = new Ajv2020({ useDefaults: true, strict: false }).compile(resnetBackbone.optionsSchema);
  const filled = { ...options };
  if (!validate(filled)) throw new Error(JSON.stringify(validate.errors));
  return filled as ResnetOptions;
}

const weightLayers = (m: tf.LayersModel) => m.layers.filter((l) => l.weights.length > 0);
const shortName = (n: string) => n.slice(n.lastIndexOf('/') + 1).replace(/:\d+$/, '');

describe('depth 50 = Keras ResNet50 (notop)', () => {
  const built = buildResnet(tf, { depth: 50, normalize: 'imagenet-caffe', width: 1, seed: 1 });
  const model = tf.model({ inputs: built.inputs, outputs: built.features });
  afterAll(() => model.dispose());

  it('has 23,587,712 parameters, like Keras', () => {
    expect(keras.params).toBe(23_587_712);
    expect(model.countParams()).toBe(23_587_712);
  });

  it('names its layers exactly as Keras does', () => {
    const names = model.layers.map((l) => l.name);
    // Stem and the first bottleneck block, in graph order.
    expect(names.slice(2, 22)).toEqual([
      'conv1_pad',
      'conv1_conv',
      'conv1_bn',
      'conv1_relu',
      'pool1_pad',
      'pool1_pool',
      'conv2_block1_1_conv',
      'conv2_block1_1_bn',
      'conv2_block1_1_relu',
      'conv2_block1_2_conv',
      'conv2_block1_2_bn',
      'conv2_block1_2_relu',
      'conv2_block1_0_conv',
      'conv2_block1_3_conv',
      'conv2_block1_0_bn',
      'conv2_block1_3_bn',
      'conv2_block1_add',
      'conv2_block1_out',
      'conv2_block2_1_conv',
      'conv2_block2_1_bn',
    ]);
    expect(names.slice(-4)).toEqual(['conv5_block3_3_conv', 'conv5_block3_3_bn', 'conv5_block3_add', 'conv5_block3_out']);
    // Every Keras layer but its input is here; ours adds only the input and the normalisation layer.
    const kerasNames = keras.layers.filter((l) => l.class !== 'InputLayer').map((l) => l.name);
    expect(names.filter((n) => n !== 'image' && n !== 'input_norm').sort()).toEqual(kerasNames.sort());
    expect(built.features.shape).toEqual([null, null, null, 2048]);
  });

  it('has every Keras weight with the same name and shape, in the same order (so the ImageNet file loads fully)', () => {
    const kerasWeights = new Map(keras.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l.weights]));
    expect(weightLayers(model).length).toBe(kerasWeights.size);
    for (const layer of weightLayers(model)) {
      const expected = kerasWeights.get(layer.name);
      expect(expected, layer.name).toBeDefined();
      expect(layer.weights.map((w) => [shortName(w.originalName), w.shape])).toEqual(expected!.map((w) => [shortName(w.name), w.shape]));
    }
    const bn = model.getLayer('conv4_block6_2_bn').getConfig();
    expect(bn.epsilon).toBe(1.001e-5);
  });

  it("splits into fastai's two backbone groups (_resnet_split), input to output, covering every layer once", () => {
    // fastai: body[:6] (stem, layer1, layer2) · body[6:] (layer3, layer4) · head; slice(lo, hi) gives
    // the middle group √(lo·hi).
    const [early, late] = built.layerGroups;
    expect(built.layerGroups).toHaveLength(2);
    expect([...early, ...late].sort()).toEqual(model.layers.map((l) => l.name).sort());
    expect(early).toContain('conv1_conv');
    expect(early).toContain('conv3_block4_out');
    expect(early.every((n) => !n.startsWith('conv4_') && !n.startsWith('conv5_'))).toBe(true);
    expect(late.every((n) => n.startsWith('conv4_') || n.startsWith('conv5_'))).toBe(true);
    expect(late).toHaveLength(6 * 10 + 2 + 3 * 10 + 2);
    // The recipe's slice(1e-6, 5e-6) with the head: fastai's 1e-6, 2.24e-6, 5e-6.
    const rates = spreadRates(1e-6, 5e-6, built.layerGroups.length + 1);
    expect(rates.map((r) => r.toExponential(2))).toEqual(['1.00e-6', '2.24e-6', '5.00e-6']);
  });
});

describe('pretrained Keras weights through the plugin', () => {
  // A Keras ResNet50 (Keras' own block code, channels × 1/32) with seeded random weights and BN
  // statistics, and the features Keras computed for one seeded [0,1] image after preprocess_input.
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'mini-resnet50-w003125.expected.json'), 'utf8')) as {
    width: number;
    input_shape: number[];
    input: number[];
    output_shape: number[];
    output: number[];
  };

  it('loads every backbone layer and reproduces Keras features (caffe normalisation inside the model)', async () => {
    const lines: string[] = [];
    // Relative to configDir, as written in a config file.
    const backbone = (await resnetBackbone.create(
      withDefaults({ depth: 50, width: expected.width, pretrained: 'fixtures/weights/mini-resnet50-w003125.h5' }),
      ctx({ configDir: TEST_DIR }),
    )) as Backbone;
    const built = backbone.build(tf);
    // A head the file knows nothing about: it must not be reported as missing.
    const pooled = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(built.features);
    const out = tf.layers.dense({ units: 37, name: 'head_dense' }).apply(pooled) as tf.SymbolicTensor;
    const model = tf.model({ inputs: built.inputs, outputs: out });
    await backbone.loadPretrained!(model, (m) => lines.push(m));

    const backboneWithWeights = weightLayers(model).filter((l) => !l.name.startsWith('head_')).length;
    expect(lines[0]).toContain(`${backboneWithWeights} layers loaded, 0 skipped, 0 in file unused`);

    const features = tf.model({ inputs: built.inputs, outputs: built.features });
    const y = features.predict(tf.tensor(expected.input, expected.input_shape)) as tf.Tensor;
    expect(y.shape).toEqual(expected.output_shape);
    const got = y.dataSync();
    const scale = Math.max(...expected.output.map(Math.abs));
    const worst = Math.max(...expected.output.map((v, i) => Math.abs(v - got[i])));
    expect(worst / scale).toBeLessThan(1e-4);
    model.dispose();
  });

  it('a pretrained path that does not exist fails at create, naming the key, the path and the file to get', async () => {
    const err = await Promise.resolve()
      .then(() => resnetBackbone.create(withDefaults({ pretrained: 'weights/resnet50.h5' }), ctx({ configDir: '/tmp/cfg' })))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('backbone.with.pretrained: /tmp/cfg/weights/resnet50.h5 does not exist');
    expect((err as Error).message).toContain('resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
  });

  it('weights for another width (nothing matches) are an error, not a silent random start', async () => {
    const backbone = (await resnetBackbone.create(
      withDefaults({ depth: 50, width: 0.0625, pretrained: path.join(FIXTURES, 'mini-resnet50-w003125.h5') }),
      ctx(),
    )) as Backbone;
    const built = backbone.build(tf);
    const model = tf.model({ inputs: built.inputs, outputs: built.features });
    const lines: string[] = [];
    const err = await backbone.loadPretrained!(model, (m) => lines.push(m)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('no layer of the resnet50 backbone');
    expect(lines.join('\n')).toContain('shape mismatch: model [7,7,3,4] [4] vs file [7,7,3,2] [2]');
    model.dispose();
  });
});

describe('the 2017 Keras ResNet50 file (old layer names)', () => {
  it('maps every old name onto a layer of depth 50', () => {
    expect(resnet50NameFrom2017('conv1')).toBe('conv1_conv');
    expect(resnet50NameFrom2017('bn_conv1')).toBe('conv1_bn');
    expect(resnet50NameFrom2017('res2a_branch2a')).toBe('conv2_block1_1_conv');
    expect(resnet50NameFrom2017('bn2a_branch1')).toBe('conv2_block1_0_bn');
    expect(resnet50NameFrom2017('res4f_branch2c')).toBe('conv4_block6_3_conv');
    expect(resnet50NameFrom2017('bn5c_branch2b')).toBe('conv5_block3_2_bn');
    expect(resnet50NameFrom2017('fc1000')).toBeNull();
    // The old ResNet50 had 53 convolutions and 53 batch norms: all of them land on distinct Keras layers.
    const old: string[] = ['conv1', 'bn_conv1'];
    [3, 4, 6, 3].forEach((blocks, s) => {
      for (let b = 0; b < blocks; b++) {
        const parts = b === 0 ? ['1', '2a', '2b', '2c'] : ['2a', '2b', '2c'];
        for (const p of parts) old.push(`res${s + 2}${'abcdef'[b]}_branch${p}`, `bn${s + 2}${'abcdef'[b]}_branch${p}`);
      }
    });
    const mapped = old.map(resnet50NameFrom2017);
    const kerasWithWeights = keras.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    expect([...new Set(mapped)].sort()).toEqual([...kerasWithWeights].sort());
  });

  it('loads a file in that layout by the mapped names and builds with its batch-norm epsilon 1e-3', async () => {
    const backbone = (await resnetBackbone.create(
      withDefaults({ depth: 50, width: 0.125, pretrained: 'fixtures/weights/resnet50-2017names-subset-w0125.h5' }),
      ctx({ configDir: TEST_DIR }),
    )) as Backbone;
    const built = backbone.build(tf);
    const model = tf.model({ inputs: built.inputs, outputs: built.features });
    const lines: string[] = [];
    await backbone.loadPretrained!(model, (m) => lines.push(m));
    expect(lines[0]).toContain('2017 ResNet50 layer names (res2a_branch2a…) mapped');
    expect(lines[0]).toContain('9 layers loaded');
    const w = (layer: string, i: number) => Array.from(model.getLayer(layer).getWeights()[i].dataSync());
    // Values Keras printed when it wrote the file.
    expect(w('conv1_conv', 0).slice(0, 3)).toEqual([1.3755087852478027, -0.5739603638648987, 1.1603715419769287].map(Math.fround));
    expect(w('conv2_block1_0_bn', 3).slice(0, 2)).toEqual([1.8057187795639038, 0.6386045813560486].map(Math.fround));
    expect(w('conv2_block1_3_conv', 1).slice(0, 2)).toEqual([0.07039940357208252, -1.0788477659225464].map(Math.fround));
    expect(w('conv2_block2_1_conv', 0).slice(0, 2)).toEqual([-0.778984546661377, -0.37348583340644836].map(Math.fround));
    // That network's batch norms all used Keras' default epsilon; it is part of the build, so a
    // resumed run (rebuilt, then restored from a checkpoint without reloading the file) keeps it.
    const epsilons = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.getConfig().epsilon);
    expect(epsilons).toHaveLength(53);
    expect(new Set(epsilons)).toEqual(new Set([1e-3]));
    model.dispose();
  });
});

describe('depth 18/34 (torchvision basic blocks)', () => {
  it('resnet18 at width 1 has torchvision resnet18 parameters (without fc) plus BN running statistics', () => {
    const built = buildResnet(tf, { depth: 18, normalize: 'imagenet', width: 1, seed: 1 });
    const model = tf.model({ inputs: built.inputs, outputs: built.features });
    // torchvision resnet18: 11,689,512 − fc 513,000; BN running mean+var are buffers there: 2 × 4,800 channels.
    expect(model.countParams()).toBe(11_176_512 + 2 * 4_800);
    const names = new Set(model.layers.map((l) => l.name));
    for (const n of ['conv2_block2_out', 'conv3_block1_1_pad', 'conv3_block1_0_conv', 'conv5_block2_out']) {
      expect(names.has(n), n).toBe(true);
    }
    for (const n of ['conv2_block1_0_conv', 'conv2_block1_3_conv', 'conv2_block3_out', 'conv5_block3_out']) {
      expect(names.has(n), n).toBe(false);
    }
    expect(built.features.shape).toEqual([null, null, null, 512]);
    model.dispose();
  });

  it('resnet34 has 3-4-6-3 basic blocks and torchvision resnet34 parameters (without fc) plus BN statistics', () => {
    const built = buildResnet(tf, { depth: 34, normalize: 'imagenet', width: 1, seed: 1 });
    const model = tf.model({ inputs: built.inputs, outputs: built.features });
    // torchvision resnet34: 21,797,672 − fc 513,000; BN running mean+var: 2 × 8,512 channels.
    expect(model.countParams()).toBe(21_284_672 + 2 * 8_512);
    model.dispose();
    const names = built.layerGroups.flat();
    const blocks = (stage: number) => names.filter((n) => new RegExp(`^conv${stage}_block\\d+_out$`).test(n)).length;
    expect([2, 3, 4, 5].map(blocks)).toEqual([3, 4, 6, 3]);
    expect(names.some((n) => n.endsWith('_3_conv'))).toBe(false);
  });
});

describe('any input size, training and save/reload', () => {
  // Training runs on the project's wasm backend: tfjs' cpu backend needs ~10 s per step here.
  afterAll(() => tf.setBackend('cpu'));

  it('resnet18 (width 1/4) takes 64 and 112 px with the same weights, trains a step at each, and reloads', async () => {
    await selectBackend('wasm', () => {});
    const built = buildResnet(tf, { depth: 18, normalize: 'imagenet', width: 0.25, seed: 3 });
    const pooled = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(built.features);
    const out = tf.layers.dense({ units: 37, activation: 'sigmoid', name: 'head_dense' }).apply(pooled) as tf.SymbolicTensor;
    const model = tf.model({ inputs: built.inputs, outputs: out });
    const features = tf.model({ inputs: built.inputs, outputs: built.features });
    expect((features.predict(tf.zeros([1, 64, 64, 3])) as tf.Tensor).shape).toEqual([1, 2, 2, 128]);
    expect((features.predict(tf.zeros([1, 112, 112, 3])) as tf.Tensor).shape).toEqual([1, 4, 4, 128]);

    model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
    const kernelBefore = Array.from(model.getLayer('conv1_conv').getWeights()[0].dataSync());
    for (const size of [64, 112]) {
      const x = tf.randomUniform([1, size, size, 3], 0, 1, 'float32', size);
      const y = tf.randomUniform([1, 37], 0, 1, 'float32', 1);
      const loss = (await model.trainOnBatch(x, y)) as number;
      expect(Number.isFinite(loss)).toBe(true);
    }
    expect(Array.from(model.getLayer('conv1_conv').getWeights()[0].dataSync())).not.toEqual(kernelBefore);

    // Save and reload through the tfjs serialiser: the normalisation layer must be registered.
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    expect(JSON.stringify(saved!.modelTopology)).toContain('"class_name":"GzxInputNormalization"');
    const reloaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const x = tf.randomUniform([1, 96, 80, 3], 0, 1, 'float32', 9);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (reloaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    model.dispose();
    reloaded.dispose();
  });
});

describe('a saved resnet model loads where no plugin is imported (gzx predict)', () => {
  it('vision/layers registers the input normalisation layer, so model-io loadModel rebuilds it', async () => {
    const built = buildResnet(tf, { depth: 18, normalize: 'imagenet-caffe', width: 0.125, seed: 2 });
    const model = tf.model({ inputs: built.inputs, outputs: built.features });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-resnet-saved-'));
    try {
      await saveModel(model, path.join(dir, 'model'));
      const x = tf.randomUniform([1, 40, 40, 3], 0, 1, 'float32', 4);
      const expected = Array.from((model.predict(x) as tf.Tensor).dataSync()).slice(0, 5);
      // A fresh Node process with only what src/galaxy/predict.ts imports (compiled: npm test builds dist first).
      const script = `
        import * as tf from '@tensorflow/tfjs';
        import '${path.join(TEST_DIR, '..', 'dist', 'vision', 'layers', 'index.js')}';
        import { loadModel } from '${path.join(TEST_DIR, '..', 'dist', 'framework', 'model-io.js')}';
        const m = await loadModel(${JSON.stringify(path.join(dir, 'model'))});
        const x = tf.randomUniform([1, 40, 40, 3], 0, 1, 'float32', 4);
        console.log(JSON.stringify({ layer: m.getLayer('input_norm').getClassName(), y: Array.from(m.predict(x).dataSync()).slice(0, 5) }));
      `;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: path.join(TEST_DIR, '..'),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const got = JSON.parse(out.trim().split('\n').pop()!) as { layer: string; y: number[] };
      expect(got.layer).toBe('GzxInputNormalization');
      got.y.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      model.dispose();
    }
  });
});

describe('input normalisation layer', () => {
  const pixel = () => tf.tensor4d([1, 0.5, 0], [1, 1, 1, 3]);
  const apply = (mode: 'imagenet-caffe' | 'imagenet' | 'none') =>
    Array.from((new InputNormalizationLayer({ mode }).apply(pixel()) as tf.Tensor).dataSync());

  it('imagenet-caffe: ×255, RGB → BGR, minus the BGR mean (Keras preprocess_input)', () => {
    const got = apply('imagenet-caffe');
    [0 - 103.939, 127.5 - 116.779, 255 - 123.68].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 3));
  });

  it('imagenet: mean/std per RGB channel; none: unchanged', () => {
    const got = apply('imagenet');
    [(1 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0 - 0.406) / 0.225].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    expect(apply('none')).toEqual([1, 0.5, 0]);
  });
});

describe('plugin registration and options', () => {
  it('is a built-in backbone whose schema fills defaults and rejects unknown depths', () => {
    expect(builtinPlugins).toContain(resnetBackbone);
    expect(withDefaults({})).toEqual({ depth: 50, pretrained: null, normalize: 'auto', width: 1 });
    expect(() => withDefaults({ depth: 101 as 50 })).toThrow();
    expect(() => withDefaults({ width: 0 })).toThrow();
  });

  it('normalize auto follows the weights: caffe for 50, imagenet for 18', async () => {
    for (const [depth, mode] of [
      [50, 'imagenet-caffe'],
      [18, 'imagenet'],
    ] as const) {
      const backbone = (await resnetBackbone.create(withDefaults({ depth, width: 0.0625 }), ctx())) as Backbone;
      expect(backbone.loadPretrained).toBeUndefined();
      const built = backbone.build(tf);
      const model = tf.model({ inputs: built.inputs, outputs: built.features });
      expect((model.getLayer('input_norm') as InputNormalizationLayer).mode).toBe(mode);
      model.dispose();
    }
  });
});
