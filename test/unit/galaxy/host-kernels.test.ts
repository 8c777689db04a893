// The head's host kernels (src/runtime/kernels/host/op.ts) against the tensor ops the layers use
// without them. They are registered for the cpu backend around each check, so the same layer
// computes both ways on one backend; tensorflow and wasm register them for real.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ConcatPool, dropout } from '../../../src/vision/layers/index.js';
import { galaxyNormalise } from '../../../src/galaxy/layers/galaxy-normalisation.js';
import { galaxyNormaliseOps } from '../../../src/galaxy/layers/galaxy-normalisation.js';
import { CONCAT_POOL, CONCAT_POOL_GRAD, DROPOUT, hostKernels } from '../../../src/runtime/kernels/host/op.js';
import { withSeededRandom } from '../../../src/runtime/math-random-scope.js';
import { SeededRng } from '../../../src/base/random.js';
import { NUM_COLUMNS } from '../../../src/galaxy/tree.js';
import { HAND_INPUT } from '../../fixtures/csv/galaxy-rows.js';

function withKernels<T>(fn: () => T): T {
  for (const config of hostKernels('cpu')) tf.registerKernel(config);
  try {
    return fn();
  } finally {
    for (const config of hostKernels('cpu')) tf.unregisterKernel(config.kernelName, 'cpu');
  }
}

function random(shape: number[], seed: number, lo = -1, hi = 2): tf.Tensor {
  const rng = new SeededRng(seed);
  return tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(lo, hi)),
    shape,
  );
}

function worstRelative(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  return worst;
}

/** Output and gradient of Σ f(x)·w, with w fixed. */
function valueAndGrad(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, seed: number) {
  const w = random(f(x).shape, seed);
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.sum(tf.mul(f(v), w)))(x);
  return { y: f(x).dataSync(), value: value.dataSync()[0], grad: grad.dataSync() };
}

describe('galaxy normalisation kernel', () => {
  it('has the gradient of the tensor ops, at negatives and exact zeros too', () => {
    const rows = Array.from({ length: 6 }, (_, r) => Array.from(random([NUM_COLUMNS], 23 + r).dataSync()));
    rows.push([...HAND_INPUT], new Array(NUM_COLUMNS).fill(0));
    rows[0][3] = 0;
    const x = tf.tensor2d(rows);
    const ops = valueAndGrad((v) => galaxyNormaliseOps(v as tf.Tensor2D), x, 24);
    const mine = withKernels(() => valueAndGrad((v) => galaxyNormalise(v as tf.Tensor2D), x, 24));
    expect(worstRelative(mine.y, ops.y)).toBeLessThan(1e-6);
    expect(worstRelative(mine.grad, ops.grad)).toBeLessThan(1e-5);
  });
});

describe('concat pool kernel', () => {
  it("gives the tensor ops' output and gradient, ties at the maximum included", async () => {
    const values = random([3, 4, 5, 6], 5).dataSync();
    // Channel 0 of image 0 has its maximum at two positions: both get the max's gradient, as in tfjs.
    values[0] = 9;
    values[6 * 7] = 9;
    const x = tf.tensor4d(values, [3, 4, 5, 6]);
    const pool = new ConcatPool();
    const apply = (v: tf.Tensor) => pool.apply(v) as tf.Tensor;
    const ops = valueAndGrad(apply, x, 6);
    let kernels: string[] = [];
    const mine = await withKernels(async () => {
      let out!: ReturnType<typeof valueAndGrad>;
      kernels = (await tf.profile(() => void (out = valueAndGrad(apply, x, 6)))).kernels.map((k) => k.name);
      return out;
    });
    expect(kernels).toContain(CONCAT_POOL);
    expect(kernels).toContain(CONCAT_POOL_GRAD);
    expect(worstRelative(mine.y, ops.y)).toBeLessThan(1e-6);
    expect(worstRelative(mine.grad, ops.grad)).toBeLessThan(1e-6);
    expect(mine.grad[0]).toBe(mine.grad[6 * 7]);
  });
});

describe('dropout kernel', () => {
  const rate = 0.3;
  const x = random([40, 500], 8, 0.5, 1.5); // no zeros: a zero in the output means dropped

  /** One training-mode pass: the output and the gradient of its sum. */
  function trainPass(layer: tf.layers.Layer): { y: Float32Array; grad: Float32Array } {
    let y!: Float32Array;
    const grad = tf.grad((v: tf.Tensor) => {
      const out = layer.apply(v, { training: true }) as tf.Tensor;
      y = out.dataSync().slice();
      return tf.sum(out);
    })(x);
    return { y, grad: grad.dataSync() as Float32Array };
  }

  it('drops a share near the rate, scales the rest by 1/(1 - rate), and passes gradients through the same mask', async () => {
    let pass!: ReturnType<typeof trainPass>;
    const { kernels } = await withKernels(() => tf.profile(() => void (pass = trainPass(dropout({ rate })))));
    expect(kernels.map((k) => k.name)).toContain(DROPOUT);
    const inputs = x.dataSync();
    let dropped = 0;
    for (let i = 0; i < inputs.length; i++) {
      if (pass.y[i] === 0) {
        dropped++;
        expect(pass.grad[i]).toBe(0);
      } else {
        expect(pass.y[i]).toBeCloseTo(inputs[i] / (1 - rate), 5);
        expect(pass.grad[i]).toBeCloseTo(1 / (1 - rate), 5);
      }
    }
    expect(dropped / inputs.length).toBeGreaterThan(rate - 0.02);
    expect(dropped / inputs.length).toBeLessThan(rate + 0.02);
  });

  it('draws the same mask from the same seeded stream (what makes a resumed run replay), another from another', () => {
    const layer = dropout({ rate });
    const [a, b, c] = withKernels(() => [3, 3, 4].map((seed) => withSeededRandom(seed, () => trainPass(layer).y)));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it("leaves inference untouched, keeps tfjs' dropout for a fixed seed, and frees what it made", async () => {
    withKernels(() => {
      expect((dropout({ rate }).apply(x, { training: false }) as tf.Tensor).dataSync()).toEqual(x.dataSync());
      const before = tf.memory().numTensors;
      tf.tidy(() => void trainPass(dropout({ rate })));
      expect(tf.memory().numTensors).toBe(before);
    });
    const { kernels } = await withKernels(() => tf.profile(() => void trainPass(dropout({ rate, seed: 1 }))));
    expect(kernels.map((k) => k.name)).not.toContain(DROPOUT);
  });

  it("saves as tfjs' Dropout, so a saved model loads without gzx", () => {
    expect(dropout({ rate }).getClassName()).toBe('Dropout');
  });
});
