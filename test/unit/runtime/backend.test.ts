// Backend choice and a real training step on wasm compared with cpu.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { describeBackends, packageVersion, selectBackend } from '../../../src/runtime/backend.js';
import { UserError } from '../../../src/base/errors.js';

describe('selectBackend', () => {
  it('auto picks the best backend that loads and says in one line each why better ones did not', async () => {
    const tensorflowLoads = (await describeBackends()).find((b) => b.candidate === 'tensorflow')!.loads;
    const lines: string[] = [];
    const report = await selectBackend('auto', (m) => lines.push(m));
    expect(tf.getBackend()).toBe(report.name);
    expect(report.threads).toBeGreaterThanOrEqual(1);
    expect(report.gpu).toBe(false);
    if (tensorflowLoads) {
      // tfjs-node registered into the same tfjs-core our `tf` uses: ops run natively.
      expect(report.name).toBe('tensorflow');
      expect(report.reasons.map((r) => [r.candidate, r.ok])).toEqual([
        ['tensorflow-gpu', false],
        ['tensorflow', true],
      ]);
      expect(Array.from(tf.add(tf.tensor([1, 2]), 1).dataSync())).toEqual([2, 3]);
      expect(lines[0]).toMatch(
        /^backend: tensorflow \(@tensorflow\/tfjs-node 4\.\d+\.\d+, intra-op \d+ \/ inter-op \d+ threads \(.*\)\) — native libtensorflow/,
      );
      expect(lines).toHaveLength(2);
    } else {
      expect(report.name).toBe('wasm');
      expect(report.version).toBe(packageVersion('@tensorflow/tfjs-backend-wasm'));
      expect(report.reasons.map((r) => [r.candidate, r.ok])).toEqual([
        ['tensorflow-gpu', false],
        ['tensorflow', false],
        ['wasm', true],
      ]);
      expect(lines[0]).toMatch(/^backend: wasm \(@tensorflow\/tfjs-backend-wasm 4\.\d+\.\d+, \d+ threads?\)/);
      expect(lines[2]).toMatch(
        /^  not tensorflow: @tensorflow\/tfjs-node (not installed \(its install script needs to download libtensorflow\)|failed to load: )/,
      );
      expect(lines).toHaveLength(3);
    }
    expect(lines[1]).toMatch(/^  not tensorflow-gpu: @tensorflow\/tfjs-node-gpu /);
  });

  it('is idempotent: a second call returns the same choice and keeps the backend', async () => {
    const first = await selectBackend('auto', () => {});
    const lines: string[] = [];
    const second = await selectBackend('auto', (m) => lines.push(m));
    expect(second).toBe(first);
    expect(tf.getBackend()).toBe(first.name);
  });

  it('a forced tensorflow backend runs natively, or is a UserError naming the fix when it cannot load', async () => {
    const tensorflowLoads = (await describeBackends()).find((b) => b.candidate === 'tensorflow')!.loads;
    if (tensorflowLoads) {
      expect((await selectBackend('tensorflow', () => {})).name).toBe('tensorflow');
      expect(tf.getBackend()).toBe('tensorflow');
      return;
    }
    const err = await selectBackend('tensorflow', () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as UserError).message;
    expect(msg).toMatch(/backend: tensorflow was requested but cannot load/);
    expect(msg).toMatch(/npm install @tensorflow\/tfjs-node/);
    expect(msg).toMatch(/backend: auto/);
  });

  it('an unknown preference is a UserError', async () => {
    await expect(selectBackend('gpu' as 'auto', () => {})).rejects.toThrow(/not one of auto, tensorflow, wasm, cpu/);
  });

  it('forced cpu and wasm switch the real tfjs backend', async () => {
    expect((await selectBackend('cpu', () => {})).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await selectBackend('wasm', () => {})).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('describeBackends reports every candidate and restores the active backend', async () => {
    await selectBackend('wasm', () => {});
    const rows = await describeBackends();
    expect(rows.map((r) => r.candidate)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    const wasm = rows.find((r) => r.candidate === 'wasm')!;
    expect(wasm).toMatchObject({ loads: true, version: packageVersion('@tensorflow/tfjs-backend-wasm') });
    expect(rows.find((r) => r.candidate === 'cpu')!.loads).toBe(true);
    const tensorflow = rows.find((r) => r.candidate === 'tensorflow')!;
    if (!tensorflow.loads) expect(tensorflow.why).toMatch(/@tensorflow\/tfjs-node (not installed|failed to load|installed but)/);
    else expect(tensorflow.threads).toBeGreaterThanOrEqual(1);
    expect(tf.getBackend()).toBe('wasm');
  });
});

/** conv / BatchNorm / relu / max+avg pool / concat / 1×1 conv / global pools / seeded dropout / dense / clip / mean. */
function buildNet(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [20, 20, 3] });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
  let x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(1) }), input);
  x = apply(tf.layers.batchNormalization(), x);
  x = apply(tf.layers.activation({ activation: 'relu' }), x);
  const maxed = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x);
  const averaged = apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x);
  x = apply(tf.layers.concatenate(), [maxed, averaged]);
  x = apply(tf.layers.conv2d({ filters: 12, kernelSize: 1, kernelInitializer: init(2) }), x);
  x = apply(tf.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'valid', kernelInitializer: init(3) }), x);
  x = apply(tf.layers.batchNormalization(), x);
  x = apply(tf.layers.activation({ activation: 'relu' }), x);
  const gap = apply(tf.layers.globalAveragePooling2d({}), x);
  const gmp = apply(tf.layers.globalMaxPooling2d({}), x);
  x = apply(tf.layers.concatenate(), [gap, gmp]);
  x = apply(tf.layers.dropout({ rate: 0.25, seed: 7 }), x);
  x = apply(tf.layers.dense({ units: 37, kernelInitializer: init(4) }), x);
  return tf.model({ inputs: input, outputs: x });
}

function trainLosses(steps: number): { losses: number[]; tensorsAfterFirst: number; tensorsAtEnd: number } {
  const model = buildNet();
  const images = tf.tensor4d(
    Array.from({ length: 6 * 20 * 20 * 3 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2),
    [6, 20, 20, 3],
  );
  const targets = tf.tensor2d(
    Array.from({ length: 6 * 37 }, (_, i) => (Math.cos(i * 0.11) + 1) / 2),
    [6, 37],
  );
  const optimizer = tf.train.adam(0.01);
  const losses: number[] = [];
  let tensorsAfterFirst = 0;
  for (let step = 0; step < steps; step++) {
    const loss = optimizer.minimize(() => {
      const predicted = model.apply(images, { training: true }) as tf.Tensor;
      return tf.mean(tf.square(tf.sub(tf.clipByValue(predicted, 0, 1), targets))) as tf.Scalar;
    }, true)!;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
    if (step === 0) tensorsAfterFirst = tf.memory().numTensors;
  }
  const tensorsAtEnd = tf.memory().numTensors;
  tf.dispose([images, targets]);
  optimizer.dispose();
  model.dispose();
  return { losses, tensorsAfterFirst, tensorsAtEnd };
}

describe('training a small conv net on wasm', () => {
  it('runs on wasm (no silent cpu fallback) and its loss follows cpu step by step', async () => {
    await selectBackend('cpu', () => {});
    const cpu = trainLosses(6);
    await selectBackend('wasm', () => {});
    expect(tf.getBackend()).toBe('wasm');
    const wasm = trainLosses(6);
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.losses[5]).toBeLessThan(wasm.losses[0] * 0.9);
    for (let i = 0; i < 6; i++) expect(Math.abs(wasm.losses[i] - cpu.losses[i])).toBeLessThan(1e-4 * Math.max(1, cpu.losses[i]));
    expect(wasm.tensorsAtEnd).toBe(wasm.tensorsAfterFirst);
  });
});
