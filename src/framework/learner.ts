// The training loop, kept short: every behaviour (schedules, freezing, metrics, logging, checkpoints,
// stopping) hooks in through named events, the way fastai's callbacks do.
import * as tf from '@tensorflow/tfjs';
import type { LossFn, Schedule } from './contracts.js';
import { meanSquaredError } from './loss.js';
import type { PhaseConfig } from './experiment-config.js';
import { GradientAccumulator, type Optimizer } from './optimizers.js';
import type { DataModule, Batch } from './data-module.js';
import { PassExecutor, type PassPosition } from './passes.js';
import { UserError } from '../base/errors.js';
import { epochTimingCallbacks } from './epoch-timing.js';

export { maskUnknownCells } from './passes.js';

export const EVENTS = [
  'beforeFit',
  'beforePhase',
  'beforeEpoch',
  'beforeBatch',
  'afterBatch',
  'beforeStep',
  'beforeValidate',
  'afterValidate',
  'afterEpoch',
  'afterPhase',
  'afterFit',
] as const;
export type LearnerEvent = (typeof EVENTS)[number];

/**
 * Behaviour hooked into the loop (fastai's callbacks): a name, an order (lower runs first) and any
 * of the events. `beforeStep` sees the averaged gradients in `state.gradients` (by variable key) and
 * may replace them; `beforeValidate` marks the end of an epoch's training.
 */
export type Callback = { name: string; order?: number } & Partial<Record<LearnerEvent, (learner: Learner) => void | Promise<void>>>;

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
  /** This epoch's training: wall ms, and of that the ms spent waiting for the next batch (timingCallback). */
  epochTrainMs: number;
  epochDataWaitMs: number;
  /** Per-epoch values callbacks add (valid_rmse…); logged after the epoch. */
  metrics: Record<string, number>;
  validPredictions: Float32Array[];
  validTruth: Float32Array[];
  /** Sample ids of validPredictions, in the same order (unreadable images are skipped). */
  validIds: string[];
  /** In `beforeStep`: the step's gradients by variable key; a callback may replace entries. */
  gradients: Record<string, tf.Tensor> | null;
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
  /** The model's loss (the head's); default mean squared error, masked where labels are unknown. */
  loss?: LossFn;
  log?: (message: string) => void;
}

export class Learner {
  readonly model: tf.LayersModel;
  readonly data: DataModule;
  readonly optimizer: Optimizer;
  readonly phases: Phase[];
  readonly seed: number;
  /** Forward/backward passes and predictions: micro-batches, compiled graphs, the memory guard. */
  readonly passes: PassExecutor;
  state!: LearnerState;
  /**
   * Why a metric is what it is, by key (e.g. valid_rmse: "17 of 37 columns known"): set by the
   * callback that computes it, printed after its value and kept in the run's summary.
   */
  readonly metricNotes: Record<string, string> = {};
  /** Set by requestStop: the fit ends after the current epoch, as a finished fit (fastai's CancelFit). */
  stopReason: string | null = null;
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
  private readonly accumulator: GradientAccumulator;

  constructor(private readonly opts: LearnerOptions) {
    this.model = opts.model;
    this.data = opts.data;
    this.optimizer = opts.optimizer;
    this.phases = opts.phases;
    this.seed = opts.seed;
    this.callbacks = [...epochTimingCallbacks(), ...opts.callbacks].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    this.accumulator = new GradientAccumulator(opts.accumulate);
    this.passes = new PassExecutor(opts.model, opts.loss ?? meanSquaredError, {
      seed: opts.seed,
      accumulate: opts.accumulate,
      compile: opts.compile !== false,
      log: (m) => opts.log?.(m),
    });
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

  /** Ends the fit after the current epoch, as finished (early stopping); `reason` is logged and kept. */
  requestStop(reason: string): void {
    this.stopReason ??= reason;
  }

  async fit(start: StartPoint = { phase: 0, epochInPhase: 0, step: 0 }): Promise<void> {
    const epochsBefore = this.phases.slice(0, start.phase).reduce((s, p) => s + p.epochs, 0);
    this.state = {
      ...{ phaseIndex: start.phase, phase: this.phases[start.phase], epochInPhase: start.epochInPhase },
      ...{ epoch: epochsBefore + start.epochInPhase, step: start.step, batchInEpoch: 0, batchesPerEpoch: 0, pct: 0, lr: 0 },
      ...{ momentum: this.optimizer.defaultMomentum, loss: NaN, batch: null, epochLossSum: 0, epochSamples: 0 },
      ...{ epochTrainMs: 0, epochDataWaitMs: 0, metrics: {}, validPredictions: [], validTruth: [], validIds: [], gradients: null },
    };
    try {
      await this.emit('beforeFit');
      for (let p = start.phase; p < this.phases.length && !this.stopReason; p++) {
        Object.assign(this.state, { phaseIndex: p, phase: this.phases[p] });
        const firstEpoch = p === start.phase ? start.epochInPhase : 0;
        // fastai's freeze()/unfreeze() clear the optimiser's state. At a phase's first epoch only, so a
        // run resumed mid-phase keeps the state its checkpoint restored, and one resumed at a phase's
        // start clears it as the uninterrupted run did.
        if (firstEpoch === 0 && p > 0 && this.phases[p].freeze !== this.phases[p - 1].freeze && this.optimizer.resetsOnFreeze) {
          this.optimizer.clearState();
        }
        this.configurePhase(this.phases[p]);
        await this.emit('beforePhase');
        for (let e = firstEpoch; e < this.phases[p].epochs && !this.stopReason; e++) {
          this.state.epochInPhase = e;
          await this.trainEpoch(this.phases[p]);
          await this.validate(this.phases[p]);
          await this.emit('afterEpoch');
          this.state.epoch += 1;
        }
        if (!this.stopReason) await this.emit('afterPhase');
      }
      await this.emit('afterFit');
    } finally {
      this.accumulator.dispose();
      this.passes.dispose();
    }
  }

  /** Freezing and per-group peak rates for a phase (fastai: BatchNorm stays trainable when frozen). */
  private configurePhase(phase: Phase): void {
    const head = this.groupCount - 1;
    this.trainable = [...this.variables]
      .filter(([k]) => phase.freeze === 'none' || this.groupOf.get(k) === head || this.bnVariables.has(k))
      .map(([, v]) => v);
    this.groupRates = Array.isArray(phase.lr) ? spreadRates(phase.lr[0], phase.lr[1], this.groupCount) : new Array(this.groupCount).fill(phase.lr);
  }

  private async trainEpoch(phase: Phase): Promise<void> {
    const s = this.state;
    s.batchesPerEpoch = this.data.trainBatchesPerEpoch(phase.batch_size);
    Object.assign(s, { batchInEpoch: 0, epochLossSum: 0, epochSamples: 0, metrics: {} });
    await this.emit('beforeEpoch');
    const totalBatches = phase.epochs * s.batchesPerEpoch;
    for await (const batch of this.data.trainBatches({ size: phase.size, batchSize: phase.batch_size, epoch: s.epoch })) {
      s.batch = batch;
      s.pct = (s.epochInPhase * s.batchesPerEpoch + s.batchInEpoch) / totalBatches;
      const value = phase.schedule.at(s.pct, Math.max(...this.groupRates));
      s.lr = value.lr;
      s.momentum = value.momentum ?? this.optimizer.defaultMomentum;
      await this.emit('beforeBatch');
      const { loss, grads } = this.passes.train(batch, this.trainable, this.position(phase));
      s.loss = loss;
      if (this.accumulator.add(this.byKey(grads))) await this.step();
      s.epochLossSum += s.loss * batch.n;
      s.epochSamples += batch.n;
      await this.emit('afterBatch');
      s.batchInEpoch += 1;
    }
    await this.step(); // gradients of an epoch's last, incomplete accumulation
    s.batch = null;
    await this.emit('beforeValidate');
  }

  /** One optimiser step on the accumulated gradients, after `beforeStep` callbacks saw them. */
  private async step(): Promise<void> {
    const grads = this.accumulator.take();
    if (!grads) return;
    this.state.gradients = grads;
    try {
      await this.emit('beforeStep');
      const used = this.state.gradients;
      const peak = Math.max(...this.groupRates);
      const rates = this.groupRates.map((r) => (peak > 0 ? (this.state.lr * r) / peak : 0));
      tf.tidy(() => this.optimizer.apply(used, this.variables, (key) => rates[this.groupOf.get(key)!], this.state.momentum));
      this.state.step += 1;
    } finally {
      // The step's gradients, and any a callback replaced.
      for (const g of new Set([...Object.values(grads), ...Object.values(this.state.gradients ?? {})])) g.dispose();
      this.state.gradients = null;
    }
  }

  private byKey(grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
    return Object.fromEntries(Object.entries(grads).map(([name, g]) => [this.keyOf.get(name)!, g]));
  }

  private position(phase: Phase): PassPosition {
    const s = this.state;
    return {
      ...{ phaseIndex: s.phaseIndex, epoch: s.epoch, batchInEpoch: s.batchInEpoch },
      batchSize: phase.batch_size,
      batchSizeKey: `train.phases.${s.phaseIndex}.batch_size`,
    };
  }

  /** Predictions on the validation split at the phase's size, for metric callbacks. */
  private async validate(phase: Phase): Promise<void> {
    const s = this.state;
    Object.assign(s, { validPredictions: [], validTruth: [], validIds: [] });
    for await (const batch of this.data.validBatches({ size: phase.size, batchSize: this.opts.validBatchSize })) {
      const out = this.passes.predict(batch, this.position(phase));
      const width = out.length / batch.n;
      for (let i = 0; i < batch.n; i++) {
        s.validPredictions.push(out.slice(i * width, (i + 1) * width));
        s.validIds.push(batch.ids[i]);
        if (batch.y) s.validTruth.push(batch.y.slice(i * width, (i + 1) * width));
      }
    }
    await this.emit('afterValidate');
  }

  /**
   * Peak tensor bytes of one training pass (forward and backward, no update) on `n` blank images at
   * `size` px, for memory planning. Weights and batch-norm statistics are left as they were.
   */
  async measureTrainingBytes(n: number, size: number): Promise<number> {
    const statistics = this.model.weights.filter((w) => !w.trainable).map((w) => [w, w.read().clone()] as const);
    const outputs = this.model.outputs[0].shape[1] as number;
    const loss = this.opts.loss ?? meanSquaredError;
    try {
      const info = await tf.profile(() =>
        tf.tidy(() => {
          const x = tf.zeros([n, size, size, 3]);
          const y = tf.zeros([n, outputs]);
          const { value, grads } = tf.variableGrads(() => loss(tf, y, this.model.apply(x, { training: true }) as tf.Tensor, null), this.trainable);
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

  /** Runs an event's callbacks in order; an unexpected error names the callback and the event. */
  private async emit(event: LearnerEvent): Promise<void> {
    for (const cb of this.callbacks) {
      const handler = cb[event];
      if (!handler) continue;
      try {
        await handler(this);
      } catch (e) {
        // Stops and user mistakes say what they mean already; anything else is a callback's bug.
        if (e instanceof StopTraining || e instanceof UserError) throw e;
        throw new Error(`callback "${cb.name}" failed in ${event}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    }
  }
}

/** fastai's slice(low, high): rates spread geometrically over the groups, the head gets `high`. */
export function spreadRates(low: number, high: number, n: number): number[] {
  if (n === 1) return [high];
  const ratio = Math.pow(high / low, 1 / (n - 1));
  return Array.from({ length: n }, (_, i) => low * Math.pow(ratio, i));
}
