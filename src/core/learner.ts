// The training loop, kept short: every behaviour (schedules, freezing, metrics, logging, checkpoints,
// stopping) hooks in through named events, the way fastai's callbacks do.
import * as tf from '@tensorflow/tfjs';
import type { Schedule } from './contracts.js';
import type { PhaseConfig } from './experiment.js';
import type { Optimizer } from './optimizers.js';
import { deriveSeed } from './random.js';
import { withSeededRandom } from './seeded-random.js';
import { batchMemoryError, isWasmOutOfMemory } from './backend.js';
import type { DataModule, Batch } from './data-module.js';
import { type CompiledPasses, compiledPassesFor, predictWith } from './traced-pass.js';

export const EVENTS = [
  'beforeFit',
  'beforePhase',
  'beforeEpoch',
  'beforeBatch',
  'afterBatch',
  'afterValidate',
  'afterEpoch',
  'afterPhase',
  'afterFit',
] as const;
export type LearnerEvent = (typeof EVENTS)[number];

export type Callback = { name: string; order?: number } & Partial<
  Record<LearnerEvent, (learner: Learner) => void | Promise<void>>
>;

/** A phase with everything filled in: the config's values plus its schedule instance. */
export type Phase = Required<Omit<PhaseConfig, 'dropout' | 'name' | 'schedule'>> &
  Pick<PhaseConfig, 'dropout'> & { name: string; schedule: Schedule };

/** Where a fit starts: the beginning, or just after a checkpointed epoch. */
export interface StartPoint {
  phase: number;
  epochInPhase: number;
  step: number;
}

/** Thrown by a callback to end the fit early; `status` says how the run is recorded. */
export class StopTraining extends Error {
  constructor(
    message: string,
    public readonly status: 'KILLED' | 'FAILED' | 'FINISHED',
  ) {
    super(message);
  }
}

/** An epoch's training images per second of training (validation excluded). */
export function trainingImagesPerSec(s: Pick<LearnerState, 'epochSamples' | 'epochTrainMs'>): number {
  return s.epochSamples / Math.max(s.epochTrainMs / 1000, 1e-9);
}

export interface LearnerState {
  phaseIndex: number;
  phase: Phase;
  epochInPhase: number;
  /** Epochs completed over all phases (also the data-order seed). */
  epoch: number;
  /** Optimiser steps over the whole fit. */
  step: number;
  batchInEpoch: number;
  batchesPerEpoch: number;
  /** Position in the phase, [0, 1). */
  pct: number;
  lr: number;
  momentum: number;
  /** Last batch's loss. */
  loss: number;
  batch: Batch | null;
  epochLossSum: number;
  epochSamples: number;
  /** This epoch's training so far: wall ms, and of that the ms spent waiting for the next batch. */
  epochTrainMs: number;
  epochDataWaitMs: number;
  /** Per-epoch values callbacks add (valid_rmse…); logged after the epoch. */
  metrics: Record<string, number>;
  validPredictions: Float32Array[];
  validTruth: Float32Array[];
  /** Sample ids of validPredictions, in the same order (unreadable images are skipped). */
  validIds: string[];
}

export interface LearnerOptions {
  model: tf.LayersModel;
  data: DataModule;
  optimizer: Optimizer;
  phases: Phase[];
  /** Layer-name groups from input to output; layers in none of them form the last (head) group. */
  layerGroups: string[][];
  accumulate: number;
  validBatchSize: number;
  seed: number;
  callbacks: Callback[];
  /**
   * Run training passes as compiled graphs where the backend can (tensorflow on CPU), after two
   * recorded eager passes per phase and batch shape; default true. `log` hears which and why.
   */
  compile?: boolean;
  log?: (message: string) => void;
}

export class Learner {
  readonly model: tf.LayersModel;
  readonly data: DataModule;
  readonly optimizer: Optimizer;
  readonly phases: Phase[];
  readonly seed: number;
  state!: LearnerState;
  private readonly callbacks: Callback[];
  /**
   * Trainable variables by a key stable across processes and rebuilds (`<layer index>/<weight index>`),
   * unlike tfjs's auto-numbered names; optimiser state and checkpoints use it.
   */
  readonly variables = new Map<string, tf.Variable>();
  private readonly keyOf = new Map<string, string>();
  /** Group index of every variable (by key); the head group is the last. */
  private readonly groupOf = new Map<string, number>();
  private readonly bnVariables = new Set<string>();
  readonly groupCount: number;
  private trainable: tf.Variable[] = [];
  private groupRates: number[] = [];
  private pending: Record<string, tf.Tensor> | null = null;
  private pendingCount = 0;
  /** Null where the backend compiles none, or with `compile: false`. */
  private readonly compiledPasses: CompiledPasses | null;
  /**
   * Images per forward/backward pass (null: the whole batch). Set by a callback (memoryPlanCallback)
   * when a batch does not fit the backend's memory: the batch then runs as several passes whose
   * gradients add up to the whole batch's.
   */
  microBatch: number | null = null;
  /** Images per prediction pass in validation (null: the whole validation batch). */
  validMicroBatch: number | null = null;

  constructor(private readonly opts: LearnerOptions) {
    this.model = opts.model;
    this.data = opts.data;
    this.optimizer = opts.optimizer;
    this.phases = opts.phases;
    this.seed = opts.seed;
    this.callbacks = [...opts.callbacks].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    this.compiledPasses = opts.compile === false ? null : compiledPassesFor(tf.getBackend(), (m) => opts.log?.(m));
    this.groupCount = opts.layerGroups.length + 1;
    const layerGroup = new Map<string, number>();
    opts.layerGroups.forEach((names, g) => names.forEach((n) => layerGroup.set(n, g)));
    this.model.layers.forEach((layer, li) => {
      const g = layerGroup.get(layer.name) ?? opts.layerGroups.length;
      const isBn = layer.getClassName() === 'BatchNormalization';
      layer.trainableWeights.forEach((w, wi) => {
        const v = w.read() as tf.Variable;
        const key = `${li}/${wi}`;
        this.variables.set(key, v);
        this.keyOf.set(v.name, key);
        this.groupOf.set(key, g);
        if (isBn) this.bnVariables.add(key);
      });
    });
  }

  /**
   * Why a metric is what it is, by key (e.g. valid_rmse: "17 of 37 columns known"): set by the
   * callback that computes it, printed after its value and kept in the run's summary.
   */
  readonly metricNotes: Record<string, string> = {};

  /** Images per validation batch, as configured. */
  get validBatchSize(): number {
    return this.opts.validBatchSize;
  }

  /** Variable keys per group, for tests and reports. */
  variablesInGroup(g: number): string[] {
    return [...this.groupOf].filter(([, gi]) => gi === g).map(([k]) => k);
  }

  trainableVariableKeys(): string[] {
    return this.trainable.map((v) => this.keyOf.get(v.name)!);
  }

  /** The peak rate of each group in the current phase (head last). */
  currentGroupRates(): number[] {
    return [...this.groupRates];
  }

  async fit(start: StartPoint = { phase: 0, epochInPhase: 0, step: 0 }): Promise<void> {
    const epochsBefore = this.phases.slice(0, start.phase).reduce((s, p) => s + p.epochs, 0);
    this.state = {
      phaseIndex: start.phase,
      phase: this.phases[start.phase],
      epochInPhase: start.epochInPhase,
      epoch: epochsBefore + start.epochInPhase,
      step: start.step,
      batchInEpoch: 0,
      batchesPerEpoch: 0,
      pct: 0,
      lr: 0,
      momentum: this.optimizer.defaultMomentum,
      loss: NaN,
      batch: null,
      epochLossSum: 0,
      epochSamples: 0,
      epochTrainMs: 0,
      epochDataWaitMs: 0,
      metrics: {},
      validPredictions: [],
      validTruth: [],
      validIds: [],
    };
    try {
      await this.emit('beforeFit');
      for (let p = start.phase; p < this.phases.length; p++) {
        const phase = this.phases[p];
        Object.assign(this.state, { phaseIndex: p, phase });
        this.configurePhase(phase);
        await this.emit('beforePhase');
        const first = p === start.phase ? start.epochInPhase : 0;
        for (let e = first; e < phase.epochs; e++) {
          this.state.epochInPhase = e;
          await this.trainEpoch(phase);
          await this.validate(phase);
          await this.emit('afterEpoch');
          this.state.epoch += 1;
        }
        await this.emit('afterPhase');
      }
      await this.emit('afterFit');
    } finally {
      this.compiledPasses?.dispose(); // the graphs' sessions; a resumed fit records afresh
    }
  }

  /** Freezing and per-group peak rates for a phase (fastai: BatchNorm stays trainable when frozen). */
  private configurePhase(phase: Phase): void {
    const head = this.groupCount - 1;
    this.trainable = [...this.variables]
      .filter(([k]) => phase.freeze === 'none' || this.groupOf.get(k) === head || this.bnVariables.has(k))
      .map(([, v]) => v);
    this.groupRates = Array.isArray(phase.lr)
      ? spreadRates(phase.lr[0], phase.lr[1], this.groupCount)
      : new Array(this.groupCount).fill(phase.lr);
  }

  private async trainEpoch(phase: Phase): Promise<void> {
    const s = this.state;
    s.batchesPerEpoch = this.data.trainBatchesPerEpoch(phase.batch_size);
    Object.assign(s, { batchInEpoch: 0, epochLossSum: 0, epochSamples: 0, metrics: {} });
    await this.emit('beforeEpoch');
    const totalBatches = phase.epochs * s.batchesPerEpoch;
    // Time blocked on the pipeline (decoding, augmenting): the share a faster model cannot win back.
    const trainStart = performance.now();
    let waitFrom = trainStart;
    s.epochDataWaitMs = 0;
    for await (const batch of this.data.trainBatches({
      size: phase.size,
      batchSize: phase.batch_size,
      epoch: s.epoch,
    })) {
      s.epochDataWaitMs += performance.now() - waitFrom;
      s.batch = batch;
      s.pct = (s.epochInPhase * s.batchesPerEpoch + s.batchInEpoch) / totalBatches;
      const peak = Math.max(...this.groupRates);
      const value = phase.schedule.at(s.pct, peak);
      s.lr = value.lr;
      s.momentum = value.momentum ?? this.optimizer.defaultMomentum;
      await this.emit('beforeBatch');
      s.loss = this.guardMemory(phase.batch_size, phase.size, () => this.trainStep(batch));
      s.epochLossSum += s.loss * batch.n;
      s.epochSamples += batch.n;
      await this.emit('afterBatch');
      s.batchInEpoch += 1;
      waitFrom = performance.now();
    }
    this.flushGradients();
    s.batch = null;
    s.epochTrainMs = performance.now() - trainStart;
    if (s.epochTrainMs > 0) s.metrics.data_wait_pct = (100 * s.epochDataWaitMs) / s.epochTrainMs;
  }

  /** Forward, backward and (every `accumulate` batches) an optimiser step. Returns the batch loss. */
  private trainStep(batch: Batch): number {
    const s = this.state;
    const noiseSeed = deriveSeed(this.seed, s.epoch, s.batchInEpoch);
    const width = batch.y!.length / batch.n;
    const unknown = maskUnknownCells(batch.y!);
    let lossSum = 0;
    withSeededRandom(noiseSeed, () => {
      for (const [start, n] of passes(batch.n, this.microBatch)) {
        const loss = tf.tidy(() => {
          const x = tf.tensor4d(this.images(batch, start, n), [n, batch.size, batch.size, 3]);
          const labels = batch.y!.subarray(start * width, (start + n) * width);
          const y = tf.tensor2d(unknown ? unknown.filled.subarray(start * width, (start + n) * width) : labels, [n, width]);
          const w = unknown && tf.tensor2d(unknown.weights.subarray(start * width, (start + n) * width), [n, width]);
          const eager = () =>
            tf.variableGrads(() => {
              const pred = this.model.apply(x, { training: true }) as tf.Tensor;
              if (w) return tf.sum(tf.mul(w, tf.squaredDifference(pred, y))) as tf.Scalar;
              // Each pass's mean loss weighted by its share of the batch: the passes' gradients add
              // up to the gradient of the whole batch's mean loss.
              const loss = tf.losses.meanSquaredError(y, pred) as tf.Scalar;
              return n === batch.n ? loss : loss.mul(n / batch.n);
            }, this.trainable);
          // A graph per phase, shape and loss (masked or not).
          const key = `${s.phaseIndex}/${n}/${batch.n}/${batch.size}${w ? '/masked' : ''}`;
          const inputs = w ? [x, y, w] : [x, y];
          const { value, grads } = this.compiledPasses ? this.compiledPasses.run(key, inputs, eager) : eager();
          this.addGradients(grads);
          return value;
        });
        lossSum += (loss.dataSync() as Float32Array)[0];
        loss.dispose();
      }
    });
    this.pendingCount += 1;
    if (this.pendingCount >= this.opts.accumulate) this.flushGradients();
    return lossSum;
  }

  /** Pixels of images start … start+n−1 of a batch (a view, no copy). */
  private images(batch: Batch, start: number, n: number): Float32Array {
    const per = batch.size * batch.size * 3;
    return n === batch.n ? batch.x : batch.x.subarray(start * per, (start + n) * per);
  }

  private addGradients(byTfName: tf.NamedTensorMap): void {
    const grads = Object.entries(byTfName).map(([name, g]) => [this.keyOf.get(name)!, g] as const);
    if (!this.pending) {
      this.pending = {};
      for (const [k, g] of grads) this.pending[k] = tf.keep(g);
    } else {
      for (const [k, g] of grads) {
        const sum = tf.keep(this.pending[k].add(g));
        this.pending[k].dispose();
        this.pending[k] = sum;
      }
    }
  }

  private flushGradients(): void {
    if (!this.pending) return;
    const grads = this.pending;
    const n = this.pendingCount;
    this.pending = null;
    this.pendingCount = 0;
    const peak = Math.max(...this.groupRates);
    const rates = this.groupRates.map((r) => (peak > 0 ? (this.state.lr * r) / peak : 0));
    tf.tidy(() => {
      const averaged = n === 1 ? grads : Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.div(n)]));
      this.optimizer.apply(averaged, this.variables, (name) => rates[this.groupOf.get(name)!], this.state.momentum);
    });
    for (const g of Object.values(grads)) g.dispose();
    this.state.step += 1;
  }

  /** Predictions on the validation split at the phase's size, for metric callbacks. */
  private async validate(phase: Phase): Promise<void> {
    const preds: Float32Array[] = [];
    const truth: Float32Array[] = [];
    const ids: string[] = [];
    for await (const batch of this.data.validBatches({ size: phase.size, batchSize: this.opts.validBatchSize })) {
      const parts = passes(batch.n, this.validMicroBatch).map(([start, n]) =>
        this.guardMemory(n, batch.size, () =>
          tf.tidy(() => predictWith(this.compiledPasses, this.model, tf.tensor4d(this.images(batch, start, n), [n, batch.size, batch.size, 3])).dataSync()),
        ) as Float32Array,
      );
      const out = parts.length === 1 ? parts[0] : concatFloat32(parts);
      const width = out.length / batch.n;
      for (let i = 0; i < batch.n; i++) {
        preds.push(out.slice(i * width, (i + 1) * width));
        ids.push(batch.ids[i]);
        if (batch.y) truth.push(batch.y.slice(i * width, (i + 1) * width));
      }
    }
    this.state.validPredictions = preds;
    this.state.validTruth = truth;
    this.state.validIds = ids;
    await this.emit('afterValidate');
  }

  /**
   * Peak tensor bytes of one training pass (forward and backward, no update) on `n` blank images at
   * `size` px, for memory planning. Weights and batch-norm statistics are left as they were.
   */
  async measureTrainingBytes(n: number, size: number): Promise<number> {
    const statistics = this.model.weights.filter((w) => !w.trainable).map((w) => [w, w.read().clone()] as const);
    const outputs = this.model.outputs[0].shape[1] as number;
    try {
      const info = await tf.profile(() =>
        tf.tidy(() => {
          const x = tf.zeros([n, size, size, 3]);
          const y = tf.zeros([n, outputs]);
          const { value, grads } = tf.variableGrads(
            () => tf.losses.meanSquaredError(y, this.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
            this.trainable,
          );
          value.dataSync();
          tf.dispose(grads);
        }),
      );
      return info.peakBytes;
    } finally {
      for (const [w, saved] of statistics) {
        w.write(saved);
        saved.dispose();
      }
    }
  }

  /** Peak tensor bytes of predicting `n` blank images at `size` px. */
  async measureInferenceBytes(n: number, size: number): Promise<number> {
    const info = await tf.profile(() => {
      tf.tidy(() => (this.model.predict(tf.zeros([n, size, size, 3])) as tf.Tensor).dataSync());
    });
    return info.peakBytes;
  }

  /** Bytes of the trainable weights in this phase (what gradients and optimiser slots scale with). */
  trainableBytes(): number {
    return this.trainable.reduce((sum, v) => sum + v.size * 4, 0);
  }

  /** A batch that overflows the wasm heap becomes a message with a batch size that fits. */
  private guardMemory<T>(batchSize: number, size: number, step: () => T): T {
    try {
      return step();
    } catch (e) {
      if (tf.getBackend() !== 'wasm' || !isWasmOutOfMemory(e)) throw e;
      throw batchMemoryError({
        batchSize,
        accumulate: this.opts.accumulate,
        size,
        batchSizeKey: `train.phases.${this.state.phaseIndex}.batch_size`,
      });
    }
  }

  private async emit(event: LearnerEvent): Promise<void> {
    for (const cb of this.callbacks) await cb[event]?.(this);
  }
}

/**
 * Labels with unknown cells (NaN: a partial catalogue's empty cells) are trained on their known
 * cells only: the loss is the mean squared error over the batch's known cells, as a weighted sum
 * (weight 1/known per known cell, 0 per unknown one) so that passes over parts of the batch add up
 * to the whole batch's loss. Unknown cells are filled with 0 (their weight is 0, and a NaN would
 * poison the gradient through 0·NaN). Null when every cell is known: such batches keep the plain
 * mean squared error, bit for bit.
 */
export function maskUnknownCells(y: Float32Array): { filled: Float32Array; weights: Float32Array } | null {
  let known = 0;
  for (let i = 0; i < y.length; i++) if (!Number.isNaN(y[i])) known += 1;
  if (known === y.length) return null;
  const filled = new Float32Array(y.length);
  const weights = new Float32Array(y.length);
  const weight = known > 0 ? 1 / known : 0;
  for (let i = 0; i < y.length; i++) {
    if (Number.isNaN(y[i])) continue;
    filled[i] = y[i];
    weights[i] = weight;
  }
  return { filled, weights };
}

/** [start, count] of each pass over a batch of n in passes of at most `micro` (null: one pass). */
function passes(n: number, micro: number | null): [number, number][] {
  const size = micro && micro < n ? micro : n;
  const out: [number, number][] = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(size, n - start)]);
  return out;
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** fastai's slice(low, high): rates spread geometrically over the groups, the head gets `high`. */
export function spreadRates(low: number, high: number, n: number): number[] {
  if (n === 1) return [high];
  const ratio = Math.pow(high / low, 1 / (n - 1));
  return Array.from({ length: n }, (_, i) => low * Math.pow(ratio, i));
}
