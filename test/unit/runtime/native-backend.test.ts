// The native TensorFlow backend built by `npm run setup:native` (docs/native.md): it must load the
// way the app loads it and compute what the pure-JS cpu backend computes. Skipped when
// @tensorflow/tfjs-node is not set up, unless GZX_REQUIRE_NATIVE=1 (CI sets it after a successful setup).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { SeededRng } from '../../../src/base/random.js';
import { selectBackend } from '../../../src/runtime/backend.js';
import { batchNormalization } from '../../../src/vision/layers/batch-normalization.js';
import { GalaxyNormalisation } from '../../../src/galaxy/layers/galaxy-normalisation.js';
import { ConcatPool } from '../../../src/vision/layers/concat-pool.js';
import { batchNormTraining } from '../../../src/runtime/kernels/batch-norm/op.js';
import { gzxNativeKernelNames, registerNativeKernels } from '../../../src/runtime/native/index.js';
import { NativeUpdates } from '../../../src/runtime/kernels/optimizer-updates/native.js';
import { Optimizer } from '../../../src/framework/optimizers.js';
import type { OptimizerConfig } from '../../../src/framework/experiment-config.js';
import { REPO } from '../../helpers/paths.js';
import { nativeRequired } from '../../helpers/native.js';

const required = nativeRequired;
const setupScript = path.join(REPO, 'scripts/setup-native.mjs');

function runSetup(...args: string[]) {
  return spawnSync(process.execPath, [setupScript, ...args], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
}

async function loadNative(): Promise<string | null> {
  try {
    await import('@tensorflow/tfjs-node');
    return null;
  } catch (e) {
    return (e instanceof Error ? e.message : String(e)).split('\n')[0];
  }
}
const loadError = await loadNative();

function randomArray(rng: SeededRng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** A tiny conv net with the layer kinds our backbones and head use (gzx's batch norm, relu as its own layer, concat pooling, the galaxy normalisation). */
function tinyConvNet(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  // No bias before the batch norm: its gradient is zero up to rounding, which no tolerance compares.
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = batchNormalization({ momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = new ConcatPool().apply(x) as tf.SymbolicTensor;
  x = batchNormalization({ momentum: 0.9 }).apply(x) as tf.SymbolicTensor; // on features [N, C], as the head's
  x = tf.layers.dense({ units: 37, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  const output = new GalaxyNormalisation().apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

/** Same initial weights and batch on every backend. */
function fixture() {
  const rng = new SeededRng(1234);
  const model = tinyConvNet();
  // Weight shapes are fully known (no batch dimension), so no nulls.
  const specs = model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
  model.dispose();
  const weights = specs.map(({ name, shape }) => {
    const values = randomArray(
      rng,
      shape.reduce((a, b) => a * b, 1),
      0.3,
    );
    // Batch norm's scale and moving variance live around 1 and must stay positive.
    return /gamma|moving_variance/.test(name) ? values.map((v) => 1 + Math.abs(v)) : values;
  });
  const images = randomArray(rng, 4 * 16 * 16 * 3);
  const targets = Float32Array.from({ length: 4 * 37 }, () => rng.next());
  return { shapes: specs.map((s) => s.shape), weights, images, targets };
}

interface Outcome {
  predictions: Float32Array;
  gradients: Float32Array[];
  losses: number[];
  /** Every weight after training, the batch norm's moving mean and variance included. */
  trained: Float32Array[];
}

/** Forward pass, gradients of the MSE loss, then five SGD steps, all on the active backend. */
async function runOn(backend: string, fx: ReturnType<typeof fixture>): Promise<Outcome> {
  await tf.setBackend(backend);
  expect(tf.getBackend()).toBe(backend);
  const model = tinyConvNet();
  model.setWeights(fx.shapes.map((s, i) => tf.tensor(fx.weights[i], s)));
  const x = tf.tensor4d(fx.images, [4, 16, 16, 3]);
  const y = tf.tensor2d(fx.targets, [4, 37]);
  const loss = () => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  const predictions = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
  const { grads } = tf.variableGrads(loss);
  const gradients = model.trainableWeights.map((w) => grads[w.originalName].dataSync() as Float32Array);
  tf.dispose(grads);
  const optimizer = tf.train.sgd(0.5);
  const losses: number[] = [];
  for (let step = 0; step < 5; step++) {
    const cost = optimizer.minimize(loss, true)!;
    losses.push(cost.dataSync()[0]);
    cost.dispose();
  }
  const trained = model.weights.map((w) => w.read().dataSync() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return { predictions, gradients, losses, trained };
}

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  return worst;
}

describe('native tensorflow backend (@tensorflow/tfjs-node)', () => {
  it('setup:native rejects an unknown option with one usage line', () => {
    const r = runSetup('--rebuild');
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      'setup:native: Unknown option --rebuild. Use --force (rebuild everything), --check (only verify), --gpu (the CUDA build).',
    );
  });

  it.runIf(required)('is set up (GZX_REQUIRE_NATIVE=1)', () => {
    expect(loadError, 'run `npm run setup:native` (docs/native.md)').toBeNull();
  });

  describe.skipIf(loadError !== null)('when set up', () => {
    it('is what the app picks under `auto`, running TensorFlow natively', async () => {
      const report = await selectBackend('auto', () => {});
      expect(report.name).toBe('tensorflow');
      expect(report.package).toBe('@tensorflow/tfjs-node');
      expect(report.gpu).toBe(false);
      const binding = (tf.backend() as unknown as { binding: { TF_Version: string } }).binding;
      expect(binding.TF_Version).toMatch(/^2\.\d+\.\d+$/);
    });

    it('setup:native --check confirms it in a fresh process without rebuilding anything', () => {
      // The addon file tfjs-node itself loads (node-pre-gyp picks the N-API folder).
      const requireHere = createRequire(import.meta.url);
      const addon: string = requireHere('@mapbox/node-pre-gyp').find(requireHere.resolve('@tensorflow/tfjs-node/package.json'));
      const builtAt = statSync(addon).mtimeMs;
      const r = runSetup('--check');
      expect(statSync(addon).mtimeMs).toBe(builtAt);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^setup:native: ok: tensorflow backend \(TensorFlow 2\.\d+\.\d+\) loads; conv2d gradients match cpu/);
    });

    it('matches the cpu backend: forward pass, gradients and five training steps of a conv net', async () => {
      const fx = fixture();
      const native = await runOn('tensorflow', fx);
      const reference = await runOn('cpu', fx);

      expect(maxRelativeError(native.predictions, reference.predictions)).toBeLessThan(1e-4);
      expect(native.gradients).toHaveLength(reference.gradients.length);
      native.gradients.forEach((g, i) => {
        expect(maxRelativeError(g, reference.gradients[i]), `gradient ${i}`).toBeLessThan(1e-3);
      });
      // Training actually learns, and takes the same path on both backends.
      expect(native.losses[4]).toBeLessThan(native.losses[0]);
      expect(maxRelativeError(native.losses, reference.losses)).toBeLessThan(1e-3);
      native.trained.forEach((w, i) => {
        expect(maxRelativeError(w, reference.trained[i]), `trained weight ${i}`).toBeLessThan(1e-3);
      });
    });

    it("updates weights with TensorFlow's fused optimiser ops exactly as the tfjs-op rules do", async () => {
      await selectBackend('tensorflow', () => {});
      const base: OptimizerConfig = { name: 'adam', wd: 0, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: false };
      const configs: OptimizerConfig[] = [
        { ...base, wd: 0.01 },
        { ...base, name: 'adamw', wd: 0.1 },
        { ...base, name: 'sgd', wd: 0.01, nesterov: true },
      ];
      const train = async (cfg: OptimizerConfig, restartAfter = -1) => {
        const rng = new SeededRng(99);
        const variables = new Map([
          ['conv', tf.variable(tf.tensor(randomArray(rng, 12), [3, 4]))],
          ['bias', tf.variable(tf.tensor(randomArray(rng, 4), [4]))],
        ]);
        let optimizer = new Optimizer(cfg);
        let engine: unknown = null;
        for (let step = 0; step < 4; step++) {
          if (step === restartAfter) {
            // as a resumed run: the state goes through a checkpoint into a new optimiser
            const state = await optimizer.getState();
            optimizer.dispose();
            optimizer = new Optimizer(cfg);
            optimizer.setState(state, variables);
          }
          // bias gets no gradient in the first step (a weight that starts late: its own step count)
          const grads = Object.fromEntries([...variables].map(([k, v]) => [k, tf.tensor(randomArray(rng, v.size), v.shape)]));
          if (step === 0) {
            grads.bias.dispose();
            delete grads.bias;
          }
          // discriminative rates and a scheduled momentum, as the Learner passes them
          optimizer.apply(grads, variables, (name) => (name === 'conv' ? 0.01 : 0.003), 0.95 - 0.03 * step);
          engine ??= (optimizer as unknown as { engine: unknown }).engine;
          tf.dispose(Object.values(grads));
          // A weight changed outside the optimiser (a checkpoint restored, weights loaded) is used as changed.
          if (step === 1) variables.get('bias')!.assign(tf.mul(variables.get('bias')!, 0.5));
        }
        const { slots, steps } = await optimizer.getState();
        expect(steps, cfg.name).toEqual({ conv: 4, bias: 3 });
        const weights = [...variables.values()].map((v) => v.dataSync() as Float32Array);
        optimizer.dispose();
        tf.dispose([...variables.values()]);
        return { weights, slots, engine };
      };
      for (const cfg of configs) {
        const fused = await train(cfg);
        expect(fused.engine, cfg.name).toBeInstanceOf(NativeUpdates);
        registerNativeKernels({ speedups: false });
        const ops = await train(cfg).finally(() => registerNativeKernels());
        expect(ops.engine, cfg.name).not.toBeInstanceOf(NativeUpdates);
        const resumed = await train(cfg, 2);
        resumed.weights.forEach((w, i) => expect(maxRelativeError(w, fused.weights[i]), `${cfg.name} resumed weight ${i}`).toBeLessThan(1e-6));
        fused.weights.forEach((w, i) => expect(maxRelativeError(w, ops.weights[i]), `${cfg.name} weight ${i}`).toBeLessThan(1e-5));
        expect(Object.keys(fused.slots).sort()).toEqual(Object.keys(ops.slots).sort());
        for (const [name, perVar] of Object.entries(ops.slots)) {
          for (const [slot, values] of Object.entries(perVar)) {
            expect(maxRelativeError(fused.slots[name][slot], values), `${cfg.name} ${name}.${slot}`).toBeLessThan(1e-5);
          }
        }
      }
    });

    it("trains gzx's layers in a fresh process without TensorFlow printing errors", () => {
      // TensorFlow's C++ log goes straight to the process's stderr: only a child process shows it.
      const dist = (file: string) => JSON.stringify(pathToFileURL(path.join(REPO, 'dist', file)).href);
      const script = `
        const tf = await import('@tensorflow/tfjs');
        const { selectBackend } = await import(${dist('runtime/backend.js')});
        const { batchNormalization } = await import(${dist('vision/layers/batch-normalization.js')});
        const { conv2d } = await import(${dist('vision/layers/conv2d.js')});
        await selectBackend('tensorflow', () => {});
        const input = tf.input({ shape: [8, 8, 3] });
        const features = batchNormalization({ momentum: 0.9 }).apply(conv2d({ filters: 4, kernelSize: 3, useBias: false }).apply(input));
        const model = tf.model({ inputs: input, outputs: features });
        const x = tf.randomNormal([2, 8, 8, 3]);
        const { grads } = tf.variableGrads(() => model.apply(x, { training: true }).square().mean());
        console.log(Object.keys(grads).length);
      `;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('3'); // the filter, the batch norm's scale and offset
      expect(r.stderr).not.toMatch(/ E tensorflow\//);
    });

    it('moves the batch norm averages as tfjs-layers does (biased variance), a batch of one included', async () => {
      await selectBackend('tensorflow', () => {});
      const momentum = 0.9;
      for (const shape of [
        [2, 3, 3, 4],
        [1, 1, 1, 4],
      ] as [number, number, number, number][]) {
        const rng = new SeededRng(shape[0]);
        const x = tf.tensor4d(
          randomArray(
            rng,
            shape.reduce((a, b) => a * b, 1),
            2,
          ),
          shape,
        );
        const oldMean = Float32Array.from([0.5, -1, 2, 0]);
        const oldVariance = Float32Array.from([1, 2, 0.5, 3]);
        const out = batchNormTraining(
          x,
          tf.ones([4]),
          tf.zeros([4]),
          { mean: tf.tensor1d(oldMean), variance: tf.tensor1d(oldVariance) },
          { epsilon: 1e-3, momentum },
        );
        const values = x.dataSync();
        const n = values.length / 4;
        for (let c = 0; c < 4; c++) {
          let sum = 0;
          for (let i = c; i < values.length; i += 4) sum += values[i];
          const mean = sum / n;
          let squares = 0;
          for (let i = c; i < values.length; i += 4) squares += (values[i] - mean) ** 2;
          expect(out.movingMean.dataSync()[c]).toBeCloseTo(momentum * oldMean[c] + (1 - momentum) * mean, 5);
          expect(out.movingVariance.dataSync()[c]).toBeCloseTo(momentum * oldVariance[c] + (1 - momentum) * (squares / n), 5);
        }
      }
    });

    it("trains through TensorFlow's fused batch norm and ReluGrad and the head's host kernels, as the composed ops would", async () => {
      const fx = fixture();
      await selectBackend('tensorflow', () => {});
      expect(gzxNativeKernelNames().sort()).toEqual([
        'GzxBatchNormTraining',
        'GzxBatchNormTrainingGrad',
        'GzxConcatPool',
        'GzxConcatPoolGrad',
        'GzxDropout',
        'GzxGalaxyNormalise',
        'GzxGalaxyNormaliseGrad',
        'GzxReluGrad',
      ]);
      let fused!: Outcome;
      const profile = await tf.profile(async () => {
        fused = await runOn('tensorflow', fx);
      });
      const fusedKernels = new Set(profile.kernels.map((k) => k.name));
      registerNativeKernels({ speedups: false });
      try {
        expect(gzxNativeKernelNames()).toEqual([]);
        const composed = await runOn('tensorflow', fx);
        expect(fusedKernels).toContain('GzxBatchNormTrainingGrad');
        expect(fusedKernels).toContain('GzxReluGrad');
        expect(fusedKernels).toContain('GzxGalaxyNormaliseGrad');
        expect(fusedKernels).toContain('GzxConcatPoolGrad');
        fused.gradients.forEach((g, i) => {
          expect(maxRelativeError(g, composed.gradients[i]), `gradient ${i}`).toBeLessThan(1e-4);
        });
        fused.trained.forEach((w, i) => {
          expect(maxRelativeError(w, composed.trained[i]), `trained weight ${i}`).toBeLessThan(1e-4);
        });
      } finally {
        registerNativeKernels();
      }
    });
  });
});
