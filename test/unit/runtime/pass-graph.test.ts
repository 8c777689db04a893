// Training passes compiled into TensorFlow graphs (tensorflow backend, CPU): the graph must compute
// what the eager pass computes, make fresh dropout noise every step, and refuse passes it cannot
// replay. Skipped when @tensorflow/tfjs-node is not set up, unless GZX_REQUIRE_NATIVE=1 (CI).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/runtime/backend.js';
import { registerNativeKernels } from '../../../src/runtime/native/index.js';
import { Learner, type Phase } from '../../../src/framework/learner.js';
import { Optimizer } from '../../../src/framework/optimizers.js';
import { withSeededRandom } from '../../../src/runtime/math-random-scope.js';
import { type PassCompiler, type PassResult, passCompilerFor } from '../../../src/runtime/traced-pass.js';
import { simpleCnnBackbone } from '../../../src/plugins/backbone/simple-cnn.js';
import { createGalaxyZooHead } from '../../../src/plugins/head/galaxy-zoo.js';
import { oneCycleSchedule } from '../../../src/plugins/schedule/one-cycle.js';
import type { Schedule } from '../../../src/framework/contracts.js';
import { MemoryData } from '../../helpers/memory-data.js';
import { batchNormalization } from '../../../src/vision/layers/batch-normalization.js';
import { nativeLoads, nativeRequired } from '../../helpers/native.js';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'; // as the app sets it before loading TensorFlow

const available = (await nativeLoads()) || nativeRequired;
const ctx = {} as never;

function buildModel() {
  const backbone = simpleCnnBackbone.create({ channels: [4, 8, 8], convs_per_block: 1 }, ctx) as ReturnType<typeof simpleCnnBackbone.create> & {
    build: (t: typeof tf) => { inputs: tf.SymbolicTensor; features: tf.SymbolicTensor; layerGroups: string[][] };
  };
  const head = createGalaxyZooHead({ ps: 0.3, hidden: 16, pool: 'concat', normalise: true });
  return withSeededRandom(7, () => {
    const built = backbone.build(tf);
    const model = tf.model({ inputs: built.inputs, outputs: head.build(tf, built.features) });
    return { model, layerGroups: built.layerGroups };
  });
}

const values = (ts: tf.Tensor[]) => ts.map((t) => Array.from(t.dataSync()));

function maxDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i][j])))));
  return max;
}

describe.runIf(available)('training passes as TensorFlow graphs', () => {
  let compiler: PassCompiler;
  beforeAll(async () => {
    await selectBackend('tensorflow', () => {});
    registerNativeKernels({ speedups: true });
    compiler = passCompilerFor('tensorflow')!;
  });

  it('is offered on the tensorflow backend with gzx kernels, not without them', () => {
    expect(compiler).not.toBeNull();
    registerNativeKernels({ speedups: false });
    expect(passCompilerFor('tensorflow')).toBeNull();
    registerNativeKernels({ speedups: true });
    expect(passCompilerFor('wasm')).toBeNull();
  });

  it('a Learner trains the same weights and batch-norm averages compiled as op by op, and says which ran', async () => {
    const phases: Phase[] = [
      {
        name: 'p',
        epochs: 2,
        size: 24,
        freeze: 'none',
        lr: 1e-2,
        batch_size: 8,
        schedule: oneCycleSchedule.create({ pct_start: 0.25, div: 25, div_final: 1e5, moms: [0.95, 0.85, 0.95] } as never, ctx) as Schedule,
      },
    ];
    const fit = async (compile: boolean) => {
      const { model, layerGroups } = buildModel();
      const said: string[] = [];
      const learner = new Learner({
        model,
        data: new MemoryData(20, 24), // 3 batches per epoch, the last of 4 images: a second shape
        optimizer: new Optimizer({ name: 'adamw', wd: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: false }),
        phases,
        layerGroups,
        accumulate: 1,
        validBatchSize: 16,
        seed: 3,
        callbacks: [],
        compile,
        log: (m) => said.push(m),
      });
      await learner.fit();
      const weights = values(model.getWeights());
      const bnAverages = values(model.weights.filter((w) => /moving/.test(w.name)).map((w) => w.read()));
      model.dispose();
      return { weights, bnAverages, said };
    };
    const eager = await fit(false);
    const compiled = await fit(true);
    expect(eager.said).toEqual([]);
    expect(compiled.said).toEqual(['training passes run as one tensorflow graph each (recorded from the first eager passes)']);
    expect(compiled.bnAverages.length).toBeGreaterThan(0);
    // Float rounding differs between TensorFlow's graph and eager kernels; a frozen input or a lost
    // update would differ by orders of magnitude more after 6 Adam steps at lr 1e-2.
    expect(maxDifference(compiled.weights, eager.weights)).toBeLessThan(1e-4);
    expect(maxDifference(compiled.bnAverages, eager.bnAverages)).toBeLessThan(1e-4);
    const start = values(buildModel().model.getWeights());
    expect(maxDifference(compiled.weights, start)).toBeGreaterThan(1e-3);
  });

  it('a compiled pass draws fresh dropout noise each step, the same for the same seed', () => {
    const { model } = buildModel();
    const x = tf.randomUniform([4, 24, 24, 3], 0, 1, 'float32', 1);
    const y = tf.randomUniform([4, 37], 0, 1, 'float32', 2);
    const pass = (): PassResult =>
      tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
    const record = (seed: number) => withSeededRandom(seed, () => compiler.record([x, y], pass));
    const first = record(1);
    const second = record(2);
    const compiled = compiler.compile(first.recording, second.recording);
    if (typeof compiled === 'string') throw new Error(compiled);
    // Moving averages change each run; compare losses, which they do not affect in training mode.
    const lossAt = (seed: number) => withSeededRandom(seed, () => tf.tidy(() => compiled.run([x, y]).value.dataSync()[0]));
    const eagerLossAt = (seed: number) => withSeededRandom(seed, () => tf.tidy(() => pass().value.dataSync()[0]));
    expect(lossAt(5)).toBeCloseTo(eagerLossAt(5), 5);
    expect(lossAt(5)).toBeCloseTo(lossAt(5), 6);
    expect(Math.abs(lossAt(5) - lossAt(6))).toBeGreaterThan(1e-5);
    compiled.dispose();
    tf.dispose([x, y, first.result.value, ...Object.values(first.result.grads), second.result.value, ...Object.values(second.result.grads)]);
    model.dispose();
  });

  it("refuses a pass that reads a value into JavaScript, and still returns that pass's result", () => {
    const w = tf.variable(tf.scalar(2));
    const pass = (): PassResult =>
      tf.variableGrads(() => {
        const scale = w.dataSync()[0]; // JavaScript control over the pass: no graph can replay it
        return w.square().mul(scale) as tf.Scalar;
      }, [w]);
    const { result, recording } = compiler.record([], pass);
    expect(recording).toEqual({ ok: false, reason: 'it reads a tensor into JavaScript mid-pass' });
    expect(result.value.dataSync()[0]).toBe(8);
    expect(result.grads[w.name].dataSync()[0]).toBe(8); // d(2·w²)/dw at 2
    tf.dispose([w, result.value, ...Object.values(result.grads)]);
  });

  it('undoes what a refused pass assigned before it stopped, so the step updates batch-norm averages once', () => {
    const x = tf.tensor4d(
      Array.from({ length: 48 }, (_, i) => Math.sin(i) * 3 + 1),
      [4, 2, 2, 3],
    );
    const make = () => {
      const layer = batchNormalization({ momentum: 0.5 });
      layer.apply(x, { training: false }); // builds its weights (inference leaves the averages)
      return layer;
    };
    const passOf = (layer: ReturnType<typeof make>, read: boolean) => (): PassResult =>
      tf.variableGrads(
        () => {
          const y = layer.apply(x, { training: true }) as tf.Tensor; // moves the averages
          if (read) y.dataSync();
          return y.square().mean() as tf.Scalar;
        },
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
    const recorded = make();
    const eager = make();
    const { result, recording } = compiler.record([], passOf(recorded, true));
    expect(recording.ok).toBe(false);
    const once = passOf(eager, false)();
    const averages = (layer: ReturnType<typeof make>) => values(layer.getWeights().slice(2));
    expect(averages(recorded)).toEqual(averages(eager));
    expect(averages(eager)[0].some((v) => v !== 0)).toBe(true); // the averages did move
    tf.dispose([x, result.value, once.value, ...Object.values(result.grads), ...Object.values(once.grads)]);
  });

  it('refuses a pass whose JavaScript-made values change between steps', () => {
    const w = tf.variable(tf.scalar(3));
    let step = 0;
    const pass = (): PassResult => tf.variableGrads(() => w.mul(tf.scalar(++step)) as tf.Scalar, [w]);
    const a = compiler.record([], pass);
    const b = compiler.record([], pass);
    expect(compiler.compile(a.recording, b.recording)).toBe('two passes differed (a value made in JavaScript changes between steps)');
    tf.dispose([w, a.result.value, b.result.value, ...Object.values(a.result.grads), ...Object.values(b.result.grads)]);
  });
});
