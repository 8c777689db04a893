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
import { restoreCheckpoint, writeCheckpoint } from '../../../src/framework/checkpoint.js';

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

describe('Adam step counts per weight (fastai step_stat)', () => {
  const [lr, eps] = [0.1, 1e-5];
  /** fastai's first Adam update of a weight: m̂ = g, v̂ = g², so lr·g/(|g| + ε), whatever its step. */
  const firstUpdate = (g: number) => (lr * g) / (Math.abs(g) + eps);

  it('a weight first updated at the 11th optimiser step is debiased from its own step 1', () => {
    const early = tf.variable(tf.scalar(1));
    const late = tf.variable(tf.scalar(1));
    const vars = new Map([
      ['early', early],
      ['late', late],
    ]);
    const opt = new Optimizer(base);
    for (let i = 0; i < 10; i++) opt.apply({ early: tf.scalar(0.5) }, vars, () => lr);
    expect(late.dataSync()[0]).toBe(1);
    opt.apply({ early: tf.scalar(0.5), late: tf.scalar(0.3) }, vars, () => lr);
    // With one global count the late weight's first update was (1−β1)/(1−β1^11)·√((1−β2^11)/(1−β2)) = 0.47 of this.
    expect(late.dataSync()[0]).toBeCloseTo(1 - firstUpdate(0.3), 6);
    expect(opt.stepOf('early')).toBe(11);
    expect(opt.stepOf('late')).toBe(1);
    // Its second update uses step 2, with a momentum a schedule changed.
    opt.apply({ early: tf.scalar(0.5), late: tf.scalar(-0.2) }, vars, () => lr, 0.85);
    const m = 0.85 * (1 - 0.9) * 0.3 + (1 - 0.85) * -0.2;
    const v = 0.99 * (1 - 0.99) * 0.09 + (1 - 0.99) * 0.04;
    const expected = 1 - firstUpdate(0.3) - (lr * (m / (1 - 0.85 ** 2))) / (Math.sqrt(v / (1 - 0.99 ** 2)) + eps);
    expect(late.dataSync()[0]).toBeCloseTo(expected, 6);
    expect(opt.stepOf('late')).toBe(2);
    opt.dispose();
    tf.dispose([early, late]);
  });

  it('a weight with a zero rate is not updated and does not count a step', () => {
    const p = tf.variable(tf.scalar(1));
    const vars = new Map([['p', p]]);
    const opt = new Optimizer(base);
    opt.apply({ p: tf.scalar(0.5) }, vars, () => 0);
    expect(opt.stepOf('p')).toBe(0);
    expect(p.dataSync()[0]).toBe(1);
    opt.apply({ p: tf.scalar(0.5) }, vars, () => lr);
    expect(p.dataSync()[0]).toBeCloseTo(1 - firstUpdate(0.5), 6);
    opt.dispose();
    p.dispose();
  });

  it('clearState forgets moments and counts: the next update is a first one (fastai clear_state)', async () => {
    const p = tf.variable(tf.scalar(1));
    const vars = new Map([['p', p]]);
    const opt = new Optimizer(base);
    for (let i = 0; i < 5; i++) opt.apply({ p: tf.scalar(0.5) }, vars, () => lr);
    opt.clearState();
    expect(opt.stepOf('p')).toBe(0);
    expect(await opt.getState()).toEqual({ steps: {}, slots: {} });
    const before = p.dataSync()[0];
    opt.apply({ p: tf.scalar(-0.3) }, vars, () => lr);
    expect(p.dataSync()[0]).toBeCloseTo(before - firstUpdate(-0.3), 6);
    expect(opt.stepOf('p')).toBe(1);
    opt.dispose();
    p.dispose();
  });

  it('the per-weight counts go through getState/setState: a resumed optimiser continues bit for bit', async () => {
    const make = () =>
      new Map([
        ['a', tf.variable(tf.tensor1d([1, 2, 3]))],
        ['b', tf.variable(tf.tensor1d([-1, 0.5]))],
      ]);
    const grads = (i: number, names: string[]) =>
      Object.fromEntries(names.map((n) => [n, n === 'a' ? tf.tensor1d([0.1 * i, -0.2, 0.3]) : tf.tensor1d([0.05, -0.1 * i])]));
    // a trains from step 1, b from step 4; the state is handed over after step 5.
    const schedule = (i: number) => (i < 3 ? ['a'] : ['a', 'b']);
    const whole = make();
    const opt = new Optimizer({ ...base, name: 'adamw', wd: 0.01 });
    for (let i = 0; i < 8; i++) opt.apply(grads(i, schedule(i)), whole, () => lr, 0.95 - 0.01 * i);

    const parted = make();
    let first = new Optimizer({ ...base, name: 'adamw', wd: 0.01 });
    for (let i = 0; i < 5; i++) first.apply(grads(i, schedule(i)), parted, () => lr, 0.95 - 0.01 * i);
    const state = await first.getState();
    expect(state.steps).toEqual({ a: 5, b: 2 });
    first.dispose();
    first = new Optimizer({ ...base, name: 'adamw', wd: 0.01 });
    // the counts through JSON, as a checkpoint's state.json keeps them
    first.setState({ steps: JSON.parse(JSON.stringify(state.steps)) as Record<string, number>, slots: state.slots }, parted);
    for (let i = 5; i < 8; i++) first.apply(grads(i, schedule(i)), parted, () => lr, 0.95 - 0.01 * i);
    for (const n of ['a', 'b']) expect(Array.from(parted.get(n)!.dataSync())).toEqual(Array.from(whole.get(n)!.dataSync()));
    expect(first.stepOf('b')).toBe(5);
    opt.dispose();
    first.dispose();
    tf.dispose([...whole.values(), ...parted.values()]);
  });
});

describe('optimiser state in checkpoints', () => {
  it("keeps each weight's step count; an older checkpoint's one global count applies to every weight", async () => {
    const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gzx-ckpt-'));
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    const [kernel, bias] = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const vars = new Map([
      ['0/0', kernel],
      ['0/1', bias],
    ]);
    const opt = new Optimizer(base);
    for (let i = 0; i < 3; i++) opt.apply({ '0/0': tf.onesLike(kernel) }, vars, () => 0.01);
    opt.apply({ '0/0': tf.onesLike(kernel), '0/1': tf.onesLike(bias) }, vars, () => 0.01);
    const position = { phase: 1, epochInPhase: 0, step: 4, epoch: 1, seed: 1, metricsLines: 0 };
    await writeCheckpoint(runDir, model, opt, position);
    const statePath = path.join(runDir, 'checkpoint', 'state.json');
    const state = JSON.parse(await fs.readFile(statePath, 'utf8'));
    expect(state.optimizer.steps).toEqual({ '0/0': 4, '0/1': 1 });

    const restored = new Optimizer(base);
    await restoreCheckpoint(runDir, model, restored, vars);
    expect([restored.stepOf('0/0'), restored.stepOf('0/1')]).toEqual([4, 1]);
    // A checkpoint from before per-weight counts: {step, slots}.
    delete state.optimizer.steps;
    state.optimizer.step = 4;
    await fs.writeFile(statePath, JSON.stringify(state));
    const legacy = new Optimizer(base);
    await restoreCheckpoint(runDir, model, legacy, vars);
    expect([legacy.stepOf('0/0'), legacy.stepOf('0/1')]).toEqual([4, 4]);
    for (const o of [opt, restored, legacy]) o.dispose();
    model.dispose();
    await fs.rm(runDir, { recursive: true, force: true });
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
