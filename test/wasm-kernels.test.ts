// Every gzx wasm kernel against the cpu backend: values and gradients, several shapes/strides/pads.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';

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
    { x: [2, 6, 6, 3], f: [3, 3, 3, 4], s: 1, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
    { x: [2, 7, 6, 3], f: [3, 3, 3, 2], s: 2, pad: [[0, 0], [1, 1], [0, 1], [0, 0]] },
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
