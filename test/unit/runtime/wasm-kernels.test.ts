// Every gzx wasm kernel against the cpu backend: values and gradients, several shapes/strides/pads.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/runtime/backend.js';
import { gzxWasmKernelNames, registerWasmKernels } from '../../../src/runtime/wasm/index.js';
import { batchNormalization } from '../../../src/vision/layers/batch-normalization.js';
// Defines the galaxy normalisation's host kernel, which the wasm backend then registers with its own.
import '../../../src/galaxy/layers/galaxy-normalisation.js';

type Pad = 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]];

function seeded(n: number, seed: number): Float32Array {
  // Deterministic values in [-1, 1) so both backends see identical inputs.
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

async function on<T>(backend: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  expect(tf.getBackend()).toBe(backend);
  return fn();
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Value of conv2d and the gradients w.r.t. x and filter of Σ conv2d(x, f)·r (r fixed weights). */
function convGrads(xShape: number[], fShape: number[], strides: number, pad: Pad) {
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(size(xShape), 1), xShape as [number, number, number, number]);
    const f = tf.tensor4d(seeded(size(fShape), 2), fShape as [number, number, number, number]);
    const y = tf.conv2d(x, f, strides, pad);
    const r = tf.tensor(seeded(y.size, 3), y.shape);
    const loss = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(a, b, strides, pad), r));
    const [dx, df] = tf.grads(loss as (...args: tf.Tensor[]) => tf.Tensor)([x, f]);
    return { y: y.dataSync().slice(), dx: dx.dataSync().slice(), df: df.dataSync().slice(), dfShape: df.shape };
  });
}

beforeAll(async () => {
  const report = await selectBackend('wasm', () => {});
  expect(report.name).toBe('wasm');
});

describe('wasm Conv2DBackpropFilter / Conv2DBackpropInput match the cpu backend', () => {
  const cases: { x: number[]; f: number[]; s: number; pad: Pad }[] = [
    { x: [2, 8, 8, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
    { x: [2, 9, 9, 3], f: [3, 3, 3, 5], s: 2, pad: 'same' },
    { x: [2, 8, 8, 4], f: [3, 3, 4, 2], s: 2, pad: 'same' },
    { x: [1, 10, 7, 2], f: [3, 2, 2, 3], s: 1, pad: 'valid' },
    { x: [2, 11, 11, 3], f: [5, 5, 3, 4], s: 2, pad: 'valid' },
    { x: [2, 16, 16, 3], f: [7, 7, 3, 8], s: 2, pad: 'same' },
    { x: [3, 6, 6, 8], f: [1, 1, 8, 4], s: 1, pad: 'valid' },
    { x: [2, 7, 7, 8], f: [1, 1, 8, 6], s: 2, pad: 'valid' },
    { x: [2, 8, 8, 8], f: [1, 1, 8, 6], s: 2, pad: 'same' },
    {
      x: [2, 6, 6, 3],
      f: [3, 3, 3, 4],
      s: 1,
      pad: [
        [0, 0],
        [2, 0],
        [1, 2],
        [0, 0],
      ],
    },
    {
      x: [2, 7, 6, 3],
      f: [3, 3, 3, 2],
      s: 2,
      pad: [
        [0, 0],
        [1, 1],
        [0, 1],
        [0, 0],
      ],
    },
  ];
  for (const c of cases) {
    it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
      const cpu = await on('cpu', () => convGrads(c.x, c.f, c.s, c.pad));
      const wasm = await on('wasm', () => convGrads(c.x, c.f, c.s, c.pad));
      expect(wasm.dfShape).toEqual(c.f);
      expect(maxAbsDiff(wasm.y, cpu.y)).toBeLessThan(1e-4);
      expect(maxAbsDiff(wasm.df, cpu.df)).toBeLessThan(1e-3);
      expect(maxAbsDiff(wasm.dx, cpu.dx)).toBeLessThan(1e-3);
    });
  }

  it('frees every intermediate tensor', async () => {
    await on('wasm', () => convGrads([2, 9, 9, 3], [3, 3, 3, 5], 2, 'same'));
    const before = tf.memory().numTensors;
    const beforeBytes = tf.memory().numBytes;
    await on('wasm', () => convGrads([2, 9, 9, 3], [3, 3, 3, 5], 2, 'same'));
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(beforeBytes);
  });
});

/** Every op our training uses: forward value and gradient on wasm equal cpu. */
describe('ops used in training match the cpu backend (value and gradient)', () => {
  const ops: Record<string, (x: tf.Tensor4D) => tf.Tensor> = {
    'maxPool 3x3 stride 2 same': (x) => tf.maxPool(x, 3, 2, 'same'),
    'maxPool 2x2 stride 2 valid': (x) => tf.maxPool(x, 2, 2, 'valid'),
    'maxPool 3x3 stride 1 same': (x) => tf.maxPool(x, 3, 1, 'same'),
    'maxPool 3x2 stride 2 explicit pad': (x) =>
      tf.maxPool(x, [3, 2], 2, [
        [0, 0],
        [1, 1],
        [0, 1],
        [0, 0],
      ]),
    // relu zeros make ties inside windows: the gradient must go to the first maximum only, as on cpu.
    'maxPool of relu (ties)': (x) => tf.maxPool(tf.relu(tf.sub(x, 0.5)), 3, 2, 'same'),
    'maxPool of a constant (all ties)': (x) => tf.maxPool(tf.mul(x, 0), 2, 2, 'valid'),
    'avgPool 3x3 stride 2 same': (x) => tf.avgPool(x, 3, 2, 'same'),
    'avgPool 2x2 stride 2 valid': (x) => tf.avgPool(x, 2, 2, 'valid'),
    'global avg pool': (x) => tf.mean(x, [1, 2]),
    'global max pool': (x) => tf.max(x, [1, 2]),
    relu: (x) => tf.relu(x),
    relu6: (x) => tf.relu6(x),
    elu: (x) => tf.elu(x),
    'leaky relu': (x) => tf.leakyRelu(x, 0.1),
    sigmoid: (x) => tf.sigmoid(x),
    clip: (x) => tf.clipByValue(x, -0.3, 0.5),
    sum: (x) => tf.sum(x, [0, 1, 2]),
    'batch norm (batch statistics)': (x) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, tf.fill([x.shape[3]], 1.5), tf.fill([x.shape[3]], 0.1), 1e-3);
    },
    concat: (x) => tf.concat([x, tf.square(x)], 3),
    'tile (broadcast)': (x) => tf.mul(tf.tile(tf.mean(x, [1, 2], true), [1, 9, 9, 1]), x),
    'tile (repeat)': (x) => tf.tile(x, [2, 1, 3, 1]),
    broadcastTo: (x) => tf.mul(tf.broadcastTo(tf.mean(x, [1, 2], true), x.shape), x),
    'matMul of pooled features': (x) => tf.matMul(tf.reshape(x, [2, -1]), tf.reshape(tf.range(0, 81 * 4 * 5).div(1000), [81 * 4, 5])),
  };
  for (const [name, op] of Object.entries(ops)) {
    it(name, async () => {
      const run = () =>
        tf.tidy(() => {
          const x = tf.tensor4d(seeded(2 * 9 * 9 * 4, 5), [2, 9, 9, 4]);
          const y = op(x);
          const r = tf.tensor(seeded(y.size, 7), y.shape);
          const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor4D), r)))(x);
          return { y: y.dataSync().slice(), dx: dx.dataSync().slice() };
        });
      const cpu = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(maxAbsDiff(wasm.y, cpu.y)).toBeLessThan(1e-4);
      expect(maxAbsDiff(wasm.dx, cpu.dx)).toBeLessThan(1e-4);
    });
  }
});

describe('wasm BatchMatMul with transposes matches the cpu backend', () => {
  const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
    { a: [7, 5], b: [7, 3], ta: true, tb: false },
    { a: [5, 7], b: [3, 7], ta: false, tb: true },
    { a: [7, 5], b: [3, 7], ta: true, tb: true },
    { a: [2, 7, 5], b: [2, 7, 3], ta: true, tb: false },
    { a: [2, 5, 7], b: [1, 3, 7], ta: false, tb: true },
  ];
  for (const c of cases) {
    it(`a ${c.a}${c.ta ? 'ᵀ' : ''} · b ${c.b}${c.tb ? 'ᵀ' : ''}`, async () => {
      const run = () =>
        tf.tidy(() => {
          const a = tf.tensor(seeded(size(c.a), 11), c.a);
          const b = tf.tensor(seeded(size(c.b), 12), c.b);
          return tf.matMul(a, b, c.ta, c.tb).dataSync().slice();
        });
      const cpu = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(maxAbsDiff(wasm, cpu)).toBeLessThan(1e-5);
    });
  }
});

describe('wasm Tile keeps int32 and non-broadcast tiles exact', () => {
  it('int32 broadcast and float repeat', async () => {
    const run = () =>
      tf.tidy(() => [
        Array.from(tf.tile(tf.tensor([[1], [2]], [2, 1], 'int32'), [1, 3]).dataSync()),
        Array.from(tf.tile(tf.tensor([[1.5, 2]], [1, 2]), [3, 2]).dataSync()),
        tf.tile(tf.tensor([[1], [2]], [2, 1], 'int32'), [1, 3]).dtype,
      ]);
    const cpu = await on('cpu', run);
    expect(await on('wasm', run)).toEqual(cpu);
    expect(cpu[0]).toEqual([1, 1, 1, 2, 2, 2]);
  });
});

describe('wasm depthwise conv gradients (missing in stock wasm) match the cpu backend', () => {
  const cases: { x: number[]; f: number[]; s: number; pad: 'same' | 'valid' }[] = [
    { x: [2, 8, 8, 3], f: [3, 3, 3, 1], s: 1, pad: 'same' },
    { x: [2, 9, 9, 4], f: [3, 3, 4, 1], s: 2, pad: 'same' },
    { x: [1, 9, 7, 2], f: [3, 3, 2, 2], s: 2, pad: 'same' },
    { x: [2, 11, 11, 3], f: [5, 5, 3, 2], s: 1, pad: 'valid' },
  ];
  for (const c of cases) {
    it(`x ${c.x} filter ${c.f} stride ${c.s} ${c.pad}`, async () => {
      const run = () =>
        tf.tidy(() => {
          const x = tf.tensor4d(seeded(size(c.x), 21), c.x as [number, number, number, number]);
          const f = tf.tensor4d(seeded(size(c.f), 22), c.f as [number, number, number, number]);
          const y = tf.depthwiseConv2d(x, f, c.s, c.pad);
          const r = tf.tensor(seeded(y.size, 23), y.shape);
          const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r));
          const [dx, df] = tf.grads(loss)([x, f]);
          return { dx: dx.dataSync().slice(), df: df.dataSync().slice() };
        });
      const cpu = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(maxAbsDiff(wasm.df, cpu.df)).toBeLessThan(1e-3);
      expect(maxAbsDiff(wasm.dx, cpu.dx)).toBeLessThan(1e-3);
    });
  }
});

describe('batch norm in training: the fused wasm kernel matches the composed path on cpu', () => {
  it.each([
    ['images [N, H, W, C]', [3, 5, 4, 6]],
    ['features [N, C] (the head)', [7, 6]],
  ])('%s: output, gradients for input, scale and offset, and the moving statistics', async (_, shape) => {
    const run = () => {
      const layer = batchNormalization({ momentum: 0.8, epsilon: 1e-3 });
      layer.build(shape);
      layer.setWeights([tf.tensor1d(seeded(6, 31).map((v) => 1 + v / 2)), tf.tensor1d(seeded(6, 32)), tf.zeros([6]), tf.ones([6])]);
      return tf.tidy(() => {
        // a non-zero mean per channel, so centring matters
        const x = tf.add(tf.tensor(seeded(size(shape), 33), shape), tf.tensor1d([0.5, -1, 2, 0, 3, -0.25]));
        const r = tf.tensor(seeded(size(shape), 34), shape);
        const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, r)) as tf.Scalar,
          [gamma, beta],
        );
        const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, r)))(x);
        return {
          loss: value.dataSync()[0],
          dgamma: grads[gamma.name].dataSync().slice(),
          dbeta: grads[beta.name].dataSync().slice(),
          dx: dx.dataSync().slice(),
          moving: layer
            .getWeights()
            .slice(2)
            .map((w) => w.dataSync().slice()),
          y: (layer.apply(x, { training: true }) as tf.Tensor).dataSync().slice(),
        };
      });
    };
    const cpu = await on('cpu', run);
    let kernels: string[] = [];
    const wasm = await on('wasm', async () => {
      let out!: ReturnType<typeof run>;
      kernels = (await tf.profile(() => void (out = run()))).kernels.map((k) => k.name);
      return out;
    });
    expect(kernels).toContain('GzxBatchNormTraining');
    expect(kernels).toContain('GzxBatchNormTrainingGrad');
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-3);
    for (const key of ['y', 'dx', 'dgamma', 'dbeta'] as const) expect(maxAbsDiff(wasm[key], cpu[key]), key).toBeLessThan(1e-3);
    // three training-mode calls updated the moving mean and variance identically
    wasm.moving.forEach((m, i) => expect(maxAbsDiff(m, cpu.moving[i]), `moving ${i}`).toBeLessThan(1e-4));
  });
});

describe('switching the speed kernels off and on (bench before/after)', () => {
  it('keeps the correctness kernels, restores the stock kernels, and gives the same gradients', async () => {
    const run = () => convGrads([2, 9, 9, 3], [3, 3, 3, 5], 2, 'same');
    const fast = await on('wasm', run);
    registerWasmKernels({ speedups: false });
    try {
      expect(gzxWasmKernelNames().sort()).toEqual(
        ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'MaxPoolGrad'].sort(),
      );
      const stock = await on('wasm', run);
      expect(maxAbsDiff(stock.dx, fast.dx)).toBeLessThan(1e-4);
      expect(maxAbsDiff(stock.df, fast.df)).toBeLessThan(1e-4);
    } finally {
      registerWasmKernels({ speedups: true });
    }
    expect(gzxWasmKernelNames()).toEqual(
      expect.arrayContaining(['Conv2DBackpropInput', 'Tile', 'BatchMatMul', 'GzxBatchNormTraining', 'GzxGalaxyNormalise']),
    );
  });
});

describe('host kernels defined by a domain module', () => {
  it('are registered on a backend that already runs host kernels, when defined after it started', async () => {
    const { defineHostKernel } = await import('../../../src/runtime/kernels/host/op.js');
    registerWasmKernels({ speedups: true });
    expect(tf.getKernel('GzxTestLateKernel', 'wasm')).toBeUndefined();
    defineHostKernel('GzxTestLateKernel', ({ x }) => tf.clone(x as unknown as tf.Tensor));
    expect(tf.getKernel('GzxTestLateKernel', 'wasm')).toBeDefined();
    expect(gzxWasmKernelNames()).toContain('GzxTestLateKernel');
  });
});
