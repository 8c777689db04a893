// Inference as one compiled TensorFlow graph (predictWith, used by the Learner's validation and
// `gzx predict`): the same predictions as model.predict op by op, to float rounding; it follows
// weights changed after it was built; one graph per input shape; no tensors left behind.
// Skipped when @tensorflow/tfjs-node is not set up, unless GZX_REQUIRE_NATIVE=1.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/runtime/backend.js';
import { CompiledPasses, compiledPassesFor, predictWith } from '../../../src/runtime/traced-pass.js';
import { NativePassCompiler, type PassRecording } from '../../../src/runtime/native/pass-graph.js';
import { fuseForInference } from '../../../src/runtime/native/fuse-inference.js';
import { resnetBackbone } from '../../../src/plugins/backbone/resnet.js';
import { createGalaxyZooHead } from '../../../src/plugins/head/galaxy-zoo.js';
import type { PluginContext } from '../../../src/framework/plugin.js';
import { nativeLoads, nativeRequired } from '../../helpers/native.js';

const required = nativeRequired;
const native = await nativeLoads();

function wave(shape: number[], phase: number, scale = 1, offset = 0): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, k) => offset + scale * Math.sin(k * 0.61 + phase)),
    shape,
  );
}

async function tinyResnet(depth: 18 | 50 = 18): Promise<tf.LayersModel> {
  const backbone = await resnetBackbone.create({ depth, pretrained: null, normalize: 'auto', width: 0.125 }, { seed: 3 } as PluginContext);
  const built = backbone.build(tf);
  const head = createGalaxyZooHead({ ps: 0.25, hidden: 16, pool: 'concat', normalise: true });
  return tf.model({ inputs: built.inputs, outputs: head.build(tf, built.features) });
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let worst = 0;
  x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - y[i]))));
  return worst;
}

describe.skipIf(!native && !required)('predictWith on tensorflow', () => {
  it('predicts what model.predict does, from the third call per shape as a graph that follows the weights', async () => {
    await selectBackend('tensorflow', () => {});
    const model = await tinyResnet();
    // Non-trivial batch-norm statistics, so inference-mode batch norm matters.
    for (const w of model.weights)
      if (/moving_(mean|variance)/.test(w.name)) w.write(wave(w.shape as number[], 1, 0.2, /variance/.test(w.name) ? 1 : 0));
    const said: string[] = [];
    const passes = compiledPassesFor('tensorflow', (m) => said.push(m))!;
    expect(passes).not.toBeNull();
    const x = wave([4, 32, 32, 3], 0.3, 0.5, 0.5);
    const reference = model.predict(x) as tf.Tensor;
    const runs: tf.Tensor[] = [];
    for (let i = 0; i < 4; i++) runs.push(predictWith(passes, model, x));
    const tensorsBefore = tf.memory().numTensors;
    runs.push(predictWith(passes, model, x));
    runs[runs.length - 1].dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    for (const r of runs.slice(0, 4)) expect(maxDiff(r, reference)).toBeLessThan(1e-5);
    expect(said).toEqual([expect.stringMatching(/run as one tensorflow graph/)]);
    // Rounding differs between the graph and the eager kernels; the outputs must not all be equal by accident.
    expect(reference.shape).toEqual([4, 37]);

    // New weights after the graph was built: the graph reads the variables' current values.
    model.setWeights(model.getWeights().map((w, i) => (w.shape.length > 1 ? wave(w.shape as number[], i, 0.3) : w.clone())));
    const after = model.predict(x) as tf.Tensor;
    expect(maxDiff(after, reference)).toBeGreaterThan(1e-3);
    const compiledAfter = predictWith(passes, model, x);
    expect(maxDiff(compiledAfter, after)).toBeLessThan(1e-5);

    // Another batch size is another graph, recorded afresh, and equally right.
    const x2 = wave([2, 32, 32, 3], 0.9, 0.5, 0.5);
    const ref2 = model.predict(x2) as tf.Tensor;
    for (let i = 0; i < 3; i++) {
      const y = predictWith(passes, model, x2);
      expect(maxDiff(y, ref2)).toBeLessThan(1e-5);
      y.dispose();
    }
    tf.dispose([x, x2, reference, after, compiledAfter, ref2, ...runs.slice(0, 4)]);
    passes.dispose();
    model.dispose();
  }, 120_000);

  it('fuses convolution, bias and batch norm, and reads unchanged weights as constants, predicting the same', async () => {
    await selectBackend('tensorflow', () => {});
    // ResNet50's convolutions have biases (ResNet18's do not): conv → bias → batch norm → ReLU.
    const model = await tinyResnet(50);
    const randomise = (phase: number) =>
      model.setWeights(
        model.getWeights().map((w, i) => (/variance/.test(model.weights[i].name) ? wave(w.shape, phase + i, 0.2, 1) : wave(w.shape, phase + i, 0.3))),
      );
    randomise(0);
    const x = wave([2, 32, 32, 3], 0.3, 0.5, 0.5);

    const compiler = new NativePassCompiler({ freezeAfter: 2 });
    const { result, recording } = compiler.record([x], () => ({ value: model.predict(x) as tf.Scalar, grads: {} }));
    const rec = recording as PassRecording;
    const fused = fuseForInference(rec, tf.backend() as unknown as Parameters<typeof fuseForInference>[1]);
    const norms = rec.ops.filter((o) => o.op === 'FusedBatchNorm' && o.shapes[0].length === 4 && o.shapes[0][0] === 2).length;
    expect(fused.fused).toBe(53); // every convolution of a ResNet50 has a batch norm after it
    expect(norms).toBeGreaterThanOrEqual(53);
    const producer = (s: (typeof fused.ops)[number]['inputs'][number]) => (s.kind === 'op' ? fused.ops[s.node].op : s.kind);
    for (const o of fused.ops.filter((o) => o.op === 'FusedBatchNorm' && o.shapes[0][0] === 2)) expect(producer(o.inputs[0])).toBe('Conv2D');
    // Read by nothing but left in the graph: no op reads a reshape to the shape it already had.
    for (const o of fused.ops)
      for (const s of o.inputs)
        if (s.kind === 'op' && fused.ops[s.node].op === 'Reshape')
          expect(fused.ops[s.node].shapes[0]).not.toEqual(fused.ops[(fused.ops[s.node].inputs[0] as { node: number }).node]?.shapes[0]);

    const passes = new CompiledPasses(compiler, 'tensorflow', () => {});
    const check = (reference: tf.Tensor, runs: number) => {
      for (let i = 0; i < runs; i++) {
        const y = predictWith(passes, model, x);
        expect(maxDiff(y, reference)).toBeLessThan(1e-5);
        y.dispose();
      }
    };
    // Two recorded, then fed weights for two runs, then frozen.
    check(result.value, 7);
    // New weights: the frozen graph is dropped, the fed one predicts with them, then it freezes again.
    randomise(5);
    const after = model.predict(x) as tf.Tensor;
    expect(maxDiff(after, result.value)).toBeGreaterThan(1e-3);
    check(after, 5);
    const tensors = tf.memory().numTensors;
    check(after, 1);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, after, result.value]);
    passes.dispose();
    model.dispose();
  }, 120_000);

  it('is plain model.predict where the backend compiles nothing', async () => {
    await selectBackend('cpu', () => {});
    expect(compiledPassesFor('cpu', () => {})).toBeNull();
    const model = await tinyResnet();
    const x = wave([1, 32, 32, 3], 0.1, 0.5, 0.5);
    const a = predictWith(null, model, x);
    const b = model.predict(x) as tf.Tensor;
    expect(maxDiff(a, b)).toBe(0);
    tf.dispose([a, b, x]);
    model.dispose();
  }, 60_000);
});
