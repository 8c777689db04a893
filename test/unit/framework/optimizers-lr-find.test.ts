// Optimiser update rules against hand computation, and the LR finder end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Optimizer } from '../../../src/framework/optimizers.js';
import type { OptimizerConfig } from '../../../src/framework/experiment-config.js';
import { valley } from '../../../src/app/lr-find.js';
import { findLearningRate } from '../../../src/app/experiment.js';

const base: OptimizerConfig = { name: 'adam', wd: 0, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: false };

/** Two steps on one scalar with fixed gradients; returns the parameter after each step. */
function steps(cfg: OptimizerConfig, grads: number[], lr: number, momentum?: number): number[] {
  const p = tf.variable(tf.scalar(1));
  const vars = new Map([['p', p]]);
  const opt = new Optimizer(cfg);
  const out: number[] = [];
  for (const g of grads) {
    opt.apply({ p: tf.scalar(g) }, vars, () => lr, momentum);
    out.push(p.dataSync()[0]);
  }
  opt.dispose();
  p.dispose();
  return out;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('optimisers', () => {
  it('Adam with debiasing (fastai form)', () => {
    const [b1, b2, eps, lr] = [0.9, 0.99, 1e-5, 0.1];
    const [p1, p2] = steps(base, [0.5, -0.2], lr);
    let m = (1 - b1) * 0.5;
    let v = (1 - b2) * 0.25;
    const e1 = 1 - (lr * (m / (1 - b1))) / (Math.sqrt(v / (1 - b2)) + eps);
    m = b1 * m + (1 - b1) * -0.2;
    v = b2 * v + (1 - b2) * 0.04;
    const e2 = e1 - (lr * (m / (1 - b1 ** 2))) / (Math.sqrt(v / (1 - b2 ** 2)) + eps);
    expect(p1).toBeCloseTo(e1, 5);
    expect(p2).toBeCloseTo(e2, 5);
  });

  it('AdamW decays weights decoupled from the gradient; Adam adds wd to the gradient', () => {
    // With a zero gradient, Adam's L2 term moves the weight through the adaptive step (≈ lr),
    // AdamW shrinks it by exactly lr·wd.
    const [w] = steps({ ...base, name: 'adamw', wd: 0.1 }, [0], 0.01);
    expect(w).toBeCloseTo(1 - 0.01 * 0.1, 6);
    const [l2] = steps({ ...base, wd: 0.1 }, [0], 0.01);
    expect(l2).toBeCloseTo(1 - 0.01 * (0.1 / (0.1 + 1e-5)), 4);
  });

  it('SGD with Nesterov momentum', () => {
    const cfg: OptimizerConfig = { ...base, name: 'sgd', momentum: 0.9, nesterov: true };
    const [p1, p2] = steps(cfg, [1, 1], 0.1, 0.9);
    // buf1 = 1, update = g + mom·buf = 1.9; buf2 = 0.9·1 + 1 = 1.9, update = 1 + 0.9·1.9 = 2.71
    expect(p1).toBeCloseTo(1 - 0.19, 6);
    expect(p2).toBeCloseTo(1 - 0.19 - 0.271, 6);
  });

  it('state round-trips for checkpoints', async () => {
    const p = tf.variable(tf.tensor1d([1, 2, 3]));
    const vars = new Map([['p', p]]);
    const a = new Optimizer(base);
    a.apply({ p: tf.tensor1d([0.1, 0.2, 0.3]) }, vars, () => 0.1);
    const state = await a.getState();
    const b = new Optimizer(base);
    b.setState(state, vars);
    const pa = tf.variable(p.clone());
    a.apply({ p: tf.tensor1d([0.3, 0.1, -0.2]) }, vars, () => 0.1);
    b.apply({ p: tf.tensor1d([0.3, 0.1, -0.2]) }, new Map([['p', pa]]), () => 0.1);
    expect(Array.from(pa.dataSync())).toEqual(Array.from(p.dataSync()));
  });
});

describe('LR finder', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gzx-lrfind-'));
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('valley picks a rate on the longest descending stretch', () => {
    const lrs = Array.from({ length: 50 }, (_, i) => 1e-6 * 10 ** (i / 7));
    // flat, then a long descent from i=10 to 40, then divergence
    const losses = lrs.map((_, i) => (i < 10 ? 1 : i <= 40 ? 1 - (i - 10) * 0.02 : 0.4 + (i - 40) * 0.3));
    const s = valley(lrs, losses);
    const idx = lrs.indexOf(s);
    expect(idx).toBeGreaterThan(15);
    expect(idx).toBeLessThan(35);
  });

  it('runs the range test, stops on divergence and writes the plot and suggestion', async () => {
    const config = path.join(tmp, 'lr.yaml');
    await fs.writeFile(
      config,
      `name: lr
output_dir: ${tmp}/runs
data: {use: synthetic, with: {dir: ${tmp}/data, count: 120, size: 96}}
backbone: {use: simple-cnn, with: {channels: [8, 16]}}
head: {use: galaxy-zoo, with: {hidden: 16}}
logger: []
train: {size: 24, batch_size: 8, workers: 0}
`,
    );
    const result = await findLearningRate({ configFile: config, log: () => undefined }, { startLr: 1e-6, endLr: 100, numIt: 60 });
    expect(result.lrs.length).toBeGreaterThan(10);
    expect(result.lrs.length).toBeLessThanOrEqual(60);
    // exponential growth: constant ratio between steps
    const r1 = result.lrs[1] / result.lrs[0];
    const r2 = result.lrs[10] / result.lrs[9];
    expect(r2).toBeCloseTo(r1, 6);
    expect(result.suggestion).toBeGreaterThan(1e-6);
    expect(result.suggestion).toBeLessThan(100);
    const png = await fs.readFile(result.plot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const saved = JSON.parse(await fs.readFile(path.join(result.runDir, 'artifacts', 'lr-find.json'), 'utf8'));
    expect(saved.suggestion).toBe(result.suggestion);
  });
});
