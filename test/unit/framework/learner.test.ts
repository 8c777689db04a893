// The training engine: schedules against fastai's formulas, freezing, discriminative rates,
// progressive resizing, dropout changes and the NaN stop.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  Learner,
  StopTraining,
  maskUnknownCells,
  spreadRates,
  type Callback,
  type LearnerOptions,
  type Phase,
} from '../../../src/framework/learner.js';
import { Optimizer } from '../../../src/framework/optimizers.js';
import { meanSquaredError } from '../../../src/framework/loss.js';
import { withSeededRandom } from '../../../src/runtime/math-random-scope.js';
import { DATA_WAIT_HINT_PCT, dataWaitCallback, dropoutCallback, nanGuardCallback } from '../../../src/framework/callbacks.js';
import { simpleCnnBackbone } from '../../../src/plugins/backbone/simple-cnn.js';
import { createGalaxyZooHead } from '../../../src/plugins/head/galaxy-zoo.js';
import { oneCycleSchedule } from '../../../src/plugins/schedule/one-cycle.js';
import { constantSchedule } from '../../../src/plugins/schedule/constant.js';
import { cosineSchedule } from '../../../src/plugins/schedule/cosine.js';
import type { Schedule } from '../../../src/framework/contracts.js';
import type { OptimizerConfig } from '../../../src/framework/experiment-config.js';
import { MemoryData } from '../../helpers/memory-data.js';
import type { Batch } from '../../../src/framework/data-module.js';
import { type PassCompiler, registerPassCompiler } from '../../../src/runtime/traced-pass.js';

/** Training batches that arrive `delayMs` late each (in every epoch, or the first only), as from a pipeline slower than the model. */
class SlowData extends MemoryData {
  constructor(
    private readonly delayMs: number,
    private readonly firstEpochOnly = false,
  ) {
    super(16, 24);
  }

  override async *trainBatches(req: { size: number; batchSize: number; epoch: number }): AsyncIterable<Batch> {
    for await (const batch of super.trainBatches(req)) {
      if (req.epoch === 0 || !this.firstEpochOnly) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      yield batch;
    }
  }
}

const ctx = {} as never;
const adam: OptimizerConfig = { name: 'adam', wd: 0, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: true };
const plainSgd: OptimizerConfig = { ...adam, name: 'sgd', momentum: 0, nesterov: false };
const constant = constantSchedule.create({} as never, ctx) as Schedule;

function buildModel(seed = 7) {
  const backbone = simpleCnnBackbone.create({ channels: [4, 8, 8], convs_per_block: 1 }, ctx) as ReturnType<typeof simpleCnnBackbone.create> & {
    build: (t: typeof tf) => { inputs: tf.SymbolicTensor; features: tf.SymbolicTensor; layerGroups: string[][] };
  };
  const head = createGalaxyZooHead({ ps: 0.2, hidden: 16, pool: 'concat', normalise: true });
  return withSeededRandom(seed, () => {
    const built = backbone.build(tf);
    const model = tf.model({ inputs: built.inputs, outputs: head.build(tf, built.features) });
    return { model, head, layerGroups: built.layerGroups };
  });
}

function phase(over: Partial<Phase>): Phase {
  return { name: 'p', epochs: 1, size: 24, freeze: 'none', lr: 1e-2, batch_size: 8, schedule: constant, ...over };
}

/** A Learner with the settings these tests share (Adam, one default phase, no callbacks) and `over`. */
function learnerFor(
  built: { model: tf.LayersModel; layerGroups: string[][] },
  over: Partial<LearnerOptions> & Pick<LearnerOptions, 'data'>,
): Learner {
  const defaults = { optimizer: new Optimizer(adam), phases: [phase({})], accumulate: 1, validBatchSize: 16, seed: 1, callbacks: [] };
  return new Learner({ ...defaults, model: built.model, layerGroups: built.layerGroups, ...over });
}

function weightsOf(model: tf.LayersModel, layerName: string): Float32Array[] {
  return model
    .getLayer(layerName)
    .getWeights()
    .map((w) => w.dataSync() as Float32Array);
}

function changed(a: Float32Array[], b: Float32Array[]): boolean {
  return a.some((arr, i) => arr.some((v, j) => v !== b[i][j]));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('schedules follow fastai', () => {
  const oneCycle = oneCycleSchedule.create({ pct_start: 0.25, div: 25, div_final: 1e5, moms: [0.95, 0.85, 0.95] }, ctx) as Schedule;
  const max = 1e-2;

  it('one-cycle: warm-up from max/25, peak at 25%, anneal to max/1e5; momentum 0.95 → 0.85 → 0.95', () => {
    expect(oneCycle.at(0, max).lr).toBeCloseTo(max / 25, 12);
    expect(oneCycle.at(0, max).momentum).toBeCloseTo(0.95, 12);
    // Half-way through the warm-up a cosine is exactly at the midpoint.
    expect(oneCycle.at(0.125, max).lr).toBeCloseTo((max / 25 + max) / 2, 12);
    expect(oneCycle.at(0.125, max).momentum).toBeCloseTo(0.9, 12);
    expect(oneCycle.at(0.25, max).lr).toBeCloseTo(max, 12);
    expect(oneCycle.at(0.25, max).momentum).toBeCloseTo(0.85, 12);
    expect(oneCycle.at(0.625, max).lr).toBeCloseTo((max + max / 1e5) / 2, 12);
    expect(oneCycle.at(1, max).lr).toBeCloseTo(max / 1e5, 12);
    expect(oneCycle.at(1, max).momentum).toBeCloseTo(0.95, 12);
    // fastai SchedCos at 10% of the warm-up: start + (1 + cos(pi * 0.9)) * (end - start) / 2
    const expected = max / 25 + ((1 + Math.cos(Math.PI * 0.9)) * (max - max / 25)) / 2;
    expect(oneCycle.at(0.025, max).lr).toBeCloseTo(expected, 12);
  });

  it('constant and flat-cosine', () => {
    expect(constant.at(0.7, 3e-3).lr).toBe(3e-3);
    const cos = cosineSchedule.create({ pct_flat: 0.5, div_final: 1e5 }, ctx) as Schedule;
    expect(cos.at(0.3, 1).lr).toBe(1);
    expect(cos.at(0.75, 1).lr).toBeCloseTo((1 + 1e-5) / 2, 12);
  });

  it("discriminative rates spread geometrically like fastai's slice", () => {
    const r = spreadRates(1e-6, 1e-4, 3);
    expect(r[0]).toBeCloseTo(1e-6, 15);
    expect(r[1]).toBeCloseTo(1e-5, 15);
    expect(r[2]).toBeCloseTo(1e-4, 15);
  });
});

describe('learner', () => {
  it('a frozen phase leaves backbone weights unchanged but trains BatchNorm and the head; unfreezing trains all', async () => {
    const { model, layerGroups } = buildModel();
    const data = new MemoryData(16, 24);
    const snapshots: Record<string, Float32Array[]> = {};
    const snap: Callback = {
      name: 'snap',
      beforePhase: (l) => {
        for (const n of ['cnn_block1_1_conv', 'cnn_block1_1_bn', 'head_dense2']) snapshots[`${l.state.phaseIndex}:${n}`] = weightsOf(l.model, n);
      },
    };
    const learner = learnerFor(
      { model, layerGroups },
      {
        data,
        phases: [phase({ freeze: 'backbone' }), phase({ freeze: 'none' })],
        callbacks: [snap],
      },
    );
    await learner.fit();
    const afterFrozen = { conv: snapshots['1:cnn_block1_1_conv'], bn: snapshots['1:cnn_block1_1_bn'], head: snapshots['1:head_dense2'] };
    expect(changed(snapshots['0:cnn_block1_1_conv'], afterFrozen.conv)).toBe(false);
    // BN gamma/beta (trainable) and moving statistics change while frozen.
    expect(changed(snapshots['0:cnn_block1_1_bn'], afterFrozen.bn)).toBe(true);
    expect(changed(snapshots['0:head_dense2'], afterFrozen.head)).toBe(true);
    expect(changed(afterFrozen.conv, weightsOf(model, 'cnn_block1_1_conv'))).toBe(true);
  });

  it('lr [low, high] reaches each layer group with its own rate', async () => {
    // Same initial weights and data, one plain-SGD step: a group's update scales with its rate.
    const delta = async (lr: number | [number, number]) => {
      const { model, layerGroups } = buildModel(3);
      const before = { early: weightsOf(model, 'cnn_block1_1_conv')[0], head: weightsOf(model, 'head_dense2')[0] };
      const learner = learnerFor(
        { model, layerGroups },
        {
          data: new MemoryData(8, 24),
          optimizer: new Optimizer(plainSgd),
          phases: [phase({ lr, batch_size: 8 })],
          validBatchSize: 8,
        },
      );
      await learner.fit();
      const after = { early: weightsOf(model, 'cnn_block1_1_conv')[0], head: weightsOf(model, 'head_dense2')[0] };
      return {
        groups: learner.groupCount,
        rates: learner.currentGroupRates(),
        early: after.early.map((v, i) => v - before.early[i]),
        head: after.head.map((v, i) => v - before.head[i]),
      };
    };
    const uniform = await delta(1);
    const sliced = await delta([1e-2, 1]);
    expect(sliced.groups).toBe(3);
    expect(sliced.rates[0]).toBeCloseTo(1e-2, 12);
    expect(sliced.rates[1]).toBeCloseTo(1e-1, 12);
    expect(sliced.rates[2]).toBeCloseTo(1, 12);
    const i = uniform.early.findIndex((v) => Math.abs(v) > 1e-7);
    expect(sliced.early[i] / uniform.early[i]).toBeCloseTo(1e-2, 3);
    const j = uniform.head.findIndex((v) => Math.abs(v) > 1e-7);
    expect(sliced.head[j] / uniform.head[j]).toBeCloseTo(1, 3);
  });

  it('progressive resizing keeps the weights and trains at the new size; dropout changes in place', async () => {
    const { model, head, layerGroups } = buildModel();
    let atPhaseEnd: Float32Array[] = [];
    let atNextStart: Float32Array[] = [];
    const sizes: number[] = [];
    const learner = learnerFor(
      { model, layerGroups },
      {
        data: new MemoryData(16, 48),
        phases: [phase({ size: 24 }), phase({ size: 48, dropout: 0.5 })],
        callbacks: [
          dropoutCallback(head),
          {
            name: 'probe',
            order: 100,
            afterPhase: (l) => {
              if (l.state.phaseIndex === 0) atPhaseEnd = weightsOf(l.model, 'cnn_block2_1_conv');
            },
            beforePhase: (l) => {
              if (l.state.phaseIndex === 1) atNextStart = weightsOf(l.model, 'cnn_block2_1_conv');
            },
            afterBatch: (l) => {
              sizes.push(l.state.batch!.size);
            },
          },
        ],
      },
    );
    await learner.fit();
    expect(changed(atPhaseEnd, atNextStart)).toBe(false);
    expect(new Set(sizes)).toEqual(new Set([24, 48]));
    const rate = (name: string) => (model.getLayer(name) as unknown as { rate: number }).rate;
    expect(rate('head_dropout2')).toBe(0.5);
    expect(rate('head_dropout1')).toBe(0.25);
  });

  it('a NaN loss stops the fit naming phase, epoch and step', async () => {
    const { model, layerGroups } = buildModel();
    const learner = learnerFor(
      { model, layerGroups },
      {
        data: new MemoryData(16, 24, 1, 1),
        phases: [phase({ epochs: 2, name: 'warm-up' })],
        callbacks: [nanGuardCallback()],
      },
    );
    const err = await learner.fit().catch((e) => e);
    expect(err).toBeInstanceOf(StopTraining);
    expect(err.status).toBe('FAILED');
    expect(err.message).toMatch(/loss became NaN in phase 1 \(warm-up\), epoch 2, step 1/);
  });

  describe('labels with unknown cells (partial catalogues)', () => {
    /** MemoryData whose labels leave Q3–Q5 (columns 5–12) unknown everywhere and a few more cells per row. */
    function partialData(): MemoryData {
      const data = new MemoryData(16, 24);
      data.labels.forEach((row, r) => {
        for (let c = 5; c <= 12; c++) row[c] = NaN;
        row[(r * 7) % 37] = NaN;
      });
      return data;
    }

    /** The first training batch's loss as the Learner reports it, with no dropout (a deterministic forward pass). */
    async function firstLoss(data: MemoryData, microBatch: number | null): Promise<{ loss: number; expected: number; plain: number }> {
      const noDropout = createGalaxyZooHead({ ps: 0, hidden: 16, pool: 'concat', normalise: true });
      const model = withSeededRandom(3, () => {
        const backbone = simpleCnnBackbone.create({ channels: [4, 8, 8], convs_per_block: 1 }, ctx) as unknown as {
          build: (t: typeof tf) => { inputs: tf.SymbolicTensor; features: tf.SymbolicTensor };
        };
        const built = backbone.build(tf);
        return tf.model({ inputs: built.inputs, outputs: noDropout.build(tf, built.features) });
      });
      const first = (await data.trainBatches({ size: 24, batchSize: 8, epoch: 0 })[Symbol.asyncIterator]().next()).value as Batch;
      // What the loss must be: the mean squared error over the known cells of this batch (in passes
      // of `microBatch` images, batch-norm statistics are each pass's own).
      const per = microBatch ?? 8;
      const pred = new Float32Array(8 * 37);
      for (let start = 0; start < 8; start += per) {
        const n = Math.min(per, 8 - start);
        const images = first.x.subarray(start * 24 * 24 * 3, (start + n) * 24 * 24 * 3);
        pred.set(
          tf.tidy(() => (model.apply(tf.tensor4d(images, [n, 24, 24, 3]), { training: true }) as tf.Tensor).dataSync()),
          start * 37,
        );
      }
      let sum = 0;
      let known = 0;
      let plainSum = 0;
      first.y!.forEach((t, i) => {
        if (!Number.isNaN(t)) {
          sum += (pred[i] - t) ** 2;
          known += 1;
        }
        plainSum += (pred[i] - (Number.isNaN(t) ? 0 : t)) ** 2;
      });
      const losses: number[] = [];
      const learner = learnerFor(
        { model, layerGroups: [] },
        {
          data,
          phases: [phase({ lr: 0 })],
          callbacks: [{ name: 'loss', afterBatch: (l) => void losses.push(l.state.loss) }],
          compile: false,
        },
      );
      learner.passes.microBatch = microBatch;
      await learner.fit();
      return { loss: losses[0], expected: sum / known, plain: plainSum / first.y!.length };
    }

    it('the loss is the mean squared error over known cells only, whole batch or in passes', async () => {
      const data = partialData();
      const whole = await firstLoss(data, null);
      const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      expect(Number.isFinite(whole.loss)).toBe(true);
      expect(relative(whole.loss, whole.expected)).toBeLessThan(1e-5);
      // Not the zero-filled mean over every cell, which an unmasked loss would give.
      expect(relative(whole.plain, whole.expected)).toBeGreaterThan(0.05);
      const parts = await firstLoss(data, 3);
      expect(relative(parts.loss, parts.expected)).toBeLessThan(1e-5);
    });

    it('a batch whose cells are all known keeps the plain mean squared error, bit for bit', async () => {
      const full = await firstLoss(new MemoryData(16, 24), null);
      expect(Math.abs(full.loss - full.expected) / full.expected).toBeLessThan(1e-5);
      expect(maskUnknownCells(new MemoryData(4, 8).labels[0])).toBeNull();
      const y = Float32Array.from([0.5, NaN, 0.25, NaN]);
      const masked = maskUnknownCells(y)!;
      expect(Array.from(masked.filled)).toEqual([0.5, 0, 0.25, 0]);
      expect(Array.from(masked.weights)).toEqual([0.5, 0, 0.5, 0]);
    });
  });

  it("trains with the model's own loss (the head's) when it has one", async () => {
    const firstLosses = async (loss?: LearnerOptions['loss']) => {
      const losses: number[] = [];
      const learner = learnerFor(buildModel(5), {
        data: new MemoryData(8, 24),
        phases: [phase({ lr: 0 })],
        loss,
        callbacks: [{ name: 'loss', afterBatch: (l) => void losses.push(l.state.loss) }],
      });
      await learner.fit();
      return losses[0];
    };
    const plain = await firstLosses();
    const doubled = await firstLosses((t, y, pred, w) => meanSquaredError(t, y, pred, w).mul(2));
    expect(doubled / plain).toBeCloseTo(2, 5);
  });

  it('gradient accumulation steps the optimiser once per `accumulate` batches', async () => {
    const { model, layerGroups } = buildModel();
    const steps: number[] = [];
    const learner = learnerFor(
      { model, layerGroups },
      {
        data: new MemoryData(32, 24),
        phases: [phase({ batch_size: 4 })],
        accumulate: 4,
        callbacks: [{ name: 'steps', afterBatch: (l) => void steps.push(l.state.step) }],
      },
    );
    await learner.fit();
    expect(steps).toEqual([0, 0, 0, 1, 1, 1, 1, 2]);
  });

  it("runs passes through a backend's compiled graph from the third, after two recordings, and goes back to eager ones when the graph fails", async () => {
    const calls: string[] = [];
    let fail = false;
    const compiler: PassCompiler = {
      record: (_inputs, pass) => {
        const result = pass();
        // Validation predicts through the same passes (predictWith): a pass without gradients.
        calls.push(Object.keys(result.grads).length ? 'record' : 'record-predict');
        return { result, recording: { ok: true, signature: 'same' } };
      },
      compile: () => {
        calls.push('compile');
        return {
          // Stands in for a graph: the eager pass, or a failure like a session error.
          run: () => {
            calls.push('run');
            if (fail) throw new Error('boom\nstack');
            return { value: tf.scalar(0.5), grads: {} };
          },
          dispose: () => calls.push('dispose'),
        };
      },
    };
    registerPassCompiler('cpu', () => compiler);
    try {
      const fitWith = async (epochs: number) => {
        const { model, layerGroups } = buildModel();
        const said: string[] = [];
        const learner = learnerFor(
          { model, layerGroups },
          {
            data: new MemoryData(16, 24),
            phases: [phase({ epochs })],
            log: (m) => said.push(m),
          },
        );
        await learner.fit();
        return said;
      };
      // Two batches: recorded, but a graph is built only for a third pass.
      expect(await fitWith(1)).toEqual([]);
      expect(calls).toEqual(['record', 'record', 'record-predict']);
      calls.length = 0;
      const said = await fitWith(2); // 4 batches of 8, one shape
      // Validation records its own pass (one batch shape) each epoch: two epochs, no graph for it yet.
      expect(calls).toEqual(['record', 'record', 'record-predict', 'compile', 'run', 'run', 'record-predict', 'dispose']);
      expect(said).toEqual(['training passes run as one cpu graph each (recorded from the first eager passes)']);
      calls.length = 0;
      fail = true;
      const failed = await fitWith(2);
      expect(calls.filter((c) => c !== 'record-predict')).toEqual(['record', 'record', 'compile', 'run', 'dispose']); // then eager, not again
      expect(failed[1]).toBe('training passes stay op by op (not compiled into a graph: its graph failed to run: boom)');
    } finally {
      registerPassCompiler('cpu', null);
    }
  });

  it('measures how long training waited for images and says what helps when the pipeline holds it back', async () => {
    const fit = async (data: MemoryData, epochs: number, cache_images: boolean | 'disk' = false) => {
      const { model, layerGroups } = buildModel();
      const said: string[] = [];
      const waits: number[] = [];
      const learner = learnerFor(
        { model, layerGroups },
        {
          data,
          phases: [phase({ epochs })],
          callbacks: [
            dataWaitCallback((m) => said.push(m), { workers: 1, cache_images }, 2),
            { name: 'wait', afterEpoch: (l) => void waits.push(l.state.metrics.data_wait_pct) },
          ],
        },
      );
      await learner.fit();
      return { said, waits };
    };
    // A batch every 400 ms against a step of a few ms: training mostly waits. The bound is the hint's
    // threshold, not a guess at this machine's step time (a loaded CI machine once measured under 60 %).
    const slow = await fit(new SlowData(400), 2);
    for (const w of slow.waits) {
      expect(w).toBeGreaterThanOrEqual(DATA_WAIT_HINT_PCT);
      expect(w).toBeLessThanOrEqual(100);
    }
    // Said once per phase, naming the keys that help.
    expect(slow.said).toHaveLength(1);
    expect(slow.said[0]).toMatch(/image pipeline held training back: \d+% of phase 1 epoch 1's training time/);
    expect(slow.said[0]).toMatch(/train\.cache_images=true/);
    expect(slow.said[0]).toMatch(/train\.workers=2/);
    // Batches ready at once: no wait worth a word.
    const fast = await fit(new MemoryData(16, 24), 1);
    expect(fast.waits[0]).toBeLessThan(DATA_WAIT_HINT_PCT);
    expect(fast.said).toEqual([]);
    // In-memory cache: a decoding first epoch much slower than the cached second points to the disk cache.
    const cached = await fit(new SlowData(400, true), 2, true);
    expect(cached.said[0]).toMatch(/later epochs read the decoded images from the cache/);
    expect(cached.said[1]).toMatch(/epoch 2 of phase 1 read its images from the cache and trained at \d+ img\/s, against \d+ img\/s while decoding/);
    expect(cached.said[1]).toMatch(/train\.cache_images=disk/);
    expect(cached.said).toHaveLength(2);
  });
});

describe("optimiser state at freeze and unfreeze (fastai's freeze()/unfreeze() clear it)", () => {
  const keyOf = (model: tf.LayersModel, layer: string) => `${model.layers.indexOf(model.getLayer(layer))}/0`;
  /** Step counts of a backbone conv and the head's last dense layer after each phase (2 steps per epoch). */
  const stepsAfterPhases = async (cfg: OptimizerConfig) => {
    const { model, layerGroups } = buildModel();
    const [conv, head] = [keyOf(model, 'cnn_block1_1_conv'), keyOf(model, 'head_dense2')];
    const seen: { conv: number; head: number }[] = [];
    const learner = learnerFor(
      { model, layerGroups },
      {
        data: new MemoryData(16, 24),
        optimizer: new Optimizer(cfg),
        phases: [phase({ freeze: 'backbone' }), phase({ freeze: 'none' }), phase({ freeze: 'none' }), phase({ freeze: 'backbone' })],
        callbacks: [{ name: 'steps', afterPhase: (l) => void seen.push({ conv: l.optimizer.stepOf(conv), head: l.optimizer.stepOf(head) }) }],
      },
    );
    await learner.fit();
    return seen;
  };

  it('clears moments and step counts where the freeze setting changes, not between two unfrozen phases', async () => {
    expect(await stepsAfterPhases(adam)).toEqual([
      { conv: 0, head: 2 },
      { conv: 2, head: 2 }, // unfrozen: cleared, so the backbone's first step is its step 1, and the head's again
      { conv: 4, head: 4 }, // still unfrozen: kept
      { conv: 0, head: 2 }, // frozen again: cleared; the backbone's weights get no updates
    ]);
  });

  it('reset_on_freeze: false keeps the state across phases (each weight still counts its own steps)', async () => {
    expect(await stepsAfterPhases({ ...adam, reset_on_freeze: false })).toEqual([
      { conv: 0, head: 2 },
      { conv: 2, head: 4 },
      { conv: 4, head: 6 },
      { conv: 4, head: 8 },
    ]);
  });

  it('a fit resumed at a phase start after an unfreeze, or inside the phase, ends bit for bit as one never interrupted', async () => {
    const phases = [phase({ freeze: 'backbone' }), phase({ freeze: 'none', epochs: 2 })];
    const weights = (model: tf.LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));
    const whole = buildModel(5);
    await learnerFor(whole, { data: new MemoryData(16, 24), phases }).fit();
    const expected = weights(whole.model);
    for (const stopAfter of [1, 2]) {
      const parted = buildModel(5);
      let optimizer = new Optimizer(adam);
      const stopper: Callback = { name: 'stop', afterEpoch: (l) => void (l.state.epoch + 1 === stopAfter && l.requestStop('test')) };
      const first = learnerFor(parted, { data: new MemoryData(16, 24), phases, optimizer, callbacks: [stopper] });
      await first.fit();
      // The optimiser through its saved form into a new one, as a checkpoint and resume take it.
      const state = await optimizer.getState();
      optimizer.dispose();
      optimizer = new Optimizer(adam);
      optimizer.setState({ steps: JSON.parse(JSON.stringify(state.steps)) as Record<string, number>, slots: state.slots }, first.variables);
      const second = learnerFor(parted, { data: new MemoryData(16, 24), phases, optimizer });
      await second.fit(stopAfter === 1 ? { phase: 1, epochInPhase: 0, step: 2 } : { phase: 1, epochInPhase: 1, step: 4 });
      expect(weights(parted.model), `stopped after epoch ${stopAfter}`).toEqual(expected);
    }
  });
});
