// Fitting batches into the wasm heap: the plan from measured steps, the passes that replace a batch
// too large for it, and the message when not even one image fits.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Learner, type Callback, type Phase } from '../../../src/framework/learner.js';
import { Optimizer } from '../../../src/framework/optimizers.js';
import { withSeededRandom } from '../../../src/runtime/math-random-scope.js';
import { memoryPlanCallback } from '../../../src/framework/callbacks.js';
import { HEAP_HEADROOM, planMicroBatch } from '../../../src/runtime/memory-plan.js';
import { selectBackend } from '../../../src/runtime/backend.js';
import { constantSchedule } from '../../../src/plugins/schedule/constant.js';
import { simpleCnnBackbone } from '../../../src/plugins/backbone/simple-cnn.js';
import { createGalaxyZooHead } from '../../../src/plugins/head/galaxy-zoo.js';
import type { Schedule } from '../../../src/framework/contracts.js';
import { UserError } from '../../../src/base/errors.js';
import { MemoryData } from '../../helpers/memory-data.js';

const MB = 2 ** 20;
const constant = constantSchedule.create({} as never, {} as never) as Schedule;

/** A probe for a step that needs `fixed` + n × `perImage` bytes, recording what it was asked. */
function linearProbe(fixed: number, perImage: number) {
  const asked: number[] = [];
  const probe = async (n: number) => {
    asked.push(n);
    return fixed + n * perImage;
  };
  return { probe, asked };
}

describe('planMicroBatch', () => {
  it('keeps the whole batch when it fits', async () => {
    const { probe } = linearProbe(300 * MB, 10 * MB);
    const plan = await planMicroBatch(32, probe, 1000 * MB, 0);
    expect(plan).toMatchObject({ micro: 32, passes: 1 });
    expect(plan!.peakBytes).toBe(620 * MB);
  });

  it('splits a batch that does not fit into equal passes that do', async () => {
    const { probe } = linearProbe(300 * MB, 100 * MB);
    // 7 images fit (300 + 700); 32 → 5 passes of at most 7 → passes of 7 (7·5 ≥ 32).
    const plan = await planMicroBatch(32, probe, 1000 * MB, 0);
    expect(plan).toMatchObject({ micro: 7, passes: 5, bytesPerImage: 100 * MB });
    // Unmeasured memory (optimiser slots) counts against the budget too: 5 images fit (300 + 150 +
    // 500) → 7 passes of 5.
    expect(await planMicroBatch(32, probe, 1000 * MB, 150 * MB)).toMatchObject({ micro: 5, passes: 7 });
  });

  it('never measures two images when two might not fit, and gives up when one does not', async () => {
    const tight = linearProbe(100 * MB, 500 * MB);
    expect(await planMicroBatch(8, tight.probe, 1000 * MB, 0)).toMatchObject({ micro: 1, passes: 8 });
    expect(tight.asked).toEqual([1]);
    // Two might need twice one image's 400 MB plus the 250 MB reserve: over budget, so not tried.
    const reserved = linearProbe(300 * MB, 100 * MB);
    expect(await planMicroBatch(8, reserved.probe, 1000 * MB, 250 * MB)).toMatchObject({ micro: 1, passes: 8 });
    expect(reserved.asked).toEqual([1]);
    const huge = linearProbe(100 * MB, 2000 * MB);
    expect(await planMicroBatch(8, huge.probe, 1000 * MB, 0)).toBeNull();
  });
});

/** conv → relu → average → dense: no batch norm, so the batch's split cannot change the gradient. */
function plainModel(): tf.LayersModel {
  return withSeededRandom(3, () => {
    const input = tf.input({ shape: [16, 16, 3] });
    let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 37, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  });
}

function phase(over: Partial<Phase> = {}): Phase {
  return { name: 'p', epochs: 1, size: 16, freeze: 'none', lr: 0.5, batch_size: 8, schedule: constant, ...over };
}

function learner(model: tf.LayersModel, callbacks: Callback[], batch = 8) {
  return new Learner({
    model,
    data: new MemoryData(16, 16),
    optimizer: new Optimizer({ name: 'sgd', wd: 0, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0, nesterov: false }),
    phases: [phase({ batch_size: batch })],
    layerGroups: [],
    accumulate: 1,
    validBatchSize: 16,
    seed: 1,
    callbacks,
  });
}

describe('passes over a batch', () => {
  it('add up to the gradient of the whole batch (cpu)', async () => {
    await tf.setBackend('cpu');
    const whole = plainModel();
    const split = plainModel();
    await learner(whole, []).fit();
    const l = learner(split, []);
    l.passes.microBatch = 3; // 8 = 3 + 3 + 2: uneven passes are weighted by their size
    await l.fit();
    const a = whole.getWeights().map((w) => w.dataSync());
    const b = split.getWeights().map((w) => w.dataSync());
    a.forEach((w, i) => w.forEach((v, j) => expect(b[i][j]).toBeCloseTo(v, 5)));
    // and the step moved the weights at all
    const start = plainModel()
      .getWeights()
      .map((w) => w.dataSync());
    expect(start[0].some((v, j) => Math.abs(v - a[0][j]) > 1e-4)).toBe(true);
  });
});

describe('memoryPlanCallback on wasm', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  function cnn() {
    const backbone = simpleCnnBackbone.create({ channels: [4, 8], convs_per_block: 1 }, {} as never) as unknown as {
      build: (t: typeof tf) => { inputs: tf.SymbolicTensor; features: tf.SymbolicTensor };
    };
    const head = createGalaxyZooHead({ ps: 0, hidden: 8, pool: 'concat', normalise: true });
    return withSeededRandom(5, () => {
      const built = backbone.build(tf);
      return tf.model({ inputs: built.inputs, outputs: head.build(tf, built.features) });
    });
  }

  it('measures without changing the model, then trains a batch too large for the heap in passes', async () => {
    await selectBackend('wasm', () => {});
    const model = cnn();
    const probe = learner(model, []);
    await probe.fit(); // builds optimiser state, so the measurements below see a trained model
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const one = await probe.measureTrainingBytes(1, 16);
    const two = await probe.measureTrainingBytes(2, 16);
    model.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[i])));
    expect(two).toBeGreaterThan(one);

    // A heap in which 3 images fit but 4 do not.
    const perImage = two - one;
    const reserve = 3 * probe.trainableBytes();
    const heap = (one + 2.5 * perImage + reserve) / HEAP_HEADROOM;
    const lines: string[] = [];
    const l = learner(model, [memoryPlanCallback((m) => lines.push(m), heap)]);
    await l.fit();
    expect(l.passes.microBatch).toBe(3);
    expect(lines.join('\n')).toMatch(/training batch of 8 at 16 px .* 3 passes of 3 with gradients accumulated/);
    expect(Number.isFinite(l.state.loss)).toBe(true);
  });

  it('stops before training, naming the phase size, when one image does not fit', async () => {
    await selectBackend('wasm', () => {});
    // The tiny model needs tens of kB per image: a 20 kB "heap" holds none.
    const l = learner(cnn(), [memoryPlanCallback(() => {}, 20_000)]);
    const err = await l.fit().then(
      () => new Error(`trained, with tf backend ${tf.getBackend()}`),
      (e) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /^train\.phases\.0: training on one 16-px image needs about .* GB, more than the wasm backend's 4 GB heap holds\. Lower train\.phases\.0\.size/,
    );
  });
});
