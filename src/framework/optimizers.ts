// Optimisers with per-variable learning rates and a scheduled momentum.
// tf.train's optimisers fix beta1/momentum at construction and have one rate for all variables,
// but one-cycle moves the momentum every step and discriminative rates need one rate per layer group;
// so the update rules (as fastai writes them) are implemented here. Where the arithmetic runs is an
// UpdateEngine: tfjs ops on any backend, or one fused TensorFlow op per weight on the tensorflow
// backend (src/runtime/kernels/optimizer-updates/native.ts).
//
// As fastai's optimisers: each weight counts its own steps (`step_stat`), from its first update, and
// Adam debiases with that count, so a weight that starts training late (a backbone unfrozen after
// the head trained) gets its first updates debiased as the head's first were. `clearState` drops
// every weight's moments and count (fastai's `clear_state`); the Learner calls it where fastai's
// `freeze()`/`unfreeze()` do, unless `reset_on_freeze: false`.
import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig } from './experiment-config.js';
import { updateEngineFor, type AdamUpdate, type OptimizerState, type Scalars, type SgdUpdate, type UpdateEngine } from '../runtime/update-engine.js';

export type { AdamUpdate, OptimizerState, Scalars, SgdUpdate, UpdateEngine } from '../runtime/update-engine.js';

export class Optimizer {
  /** Updates per weight since its state began (fastai's per-weight `step_stat`), by variable name. */
  private readonly steps = new Map<string, number>();
  private engine: UpdateEngine | null = null;

  constructor(private readonly cfg: OptimizerConfig) {}

  get name(): string {
    return this.cfg.name;
  }

  /** Default momentum (beta1 for Adam) when no schedule sets one. */
  get defaultMomentum(): number {
    return this.cfg.name === 'sgd' ? this.cfg.momentum : this.cfg.beta1;
  }

  /** Whether the Learner clears the state when a phase freezes or unfreezes (default true, as fastai). */
  get resetsOnFreeze(): boolean {
    return this.cfg.reset_on_freeze !== false;
  }

  private updates(): UpdateEngine {
    this.engine ??= updateEngineFor(tf.getBackend()) ?? new TfjsUpdates();
    return this.engine;
  }

  /**
   * One update. `grads` maps variable name → gradient; `rateOf` gives each variable's learning rate
   * (group rates); `momentum` is SGD momentum or Adam's beta1 for this step. A weight with a
   * gradient and a rate > 0 is updated and counts one step of its own; the others are left alone.
   */
  apply(
    grads: Record<string, tf.Tensor>,
    variables: Map<string, tf.Variable>,
    rateOf: (name: string) => number,
    momentum = this.defaultMomentum,
  ): void {
    const { wd, beta2, eps, nesterov } = this.cfg;
    const engine = this.updates();
    const adamw = this.cfg.name === 'adamw';
    const l2 = adamw ? 0 : wd;
    const scalars = new Map<number, tf.Scalar>();
    const k: Scalars = (value) => {
      let t = scalars.get(value);
      if (!t) scalars.set(value, (t = tf.keep(tf.scalar(value))));
      return t;
    };
    try {
      for (const [name, grad] of Object.entries(grads)) {
        const p = variables.get(name);
        if (!p) continue;
        const lr = rateOf(name);
        if (lr === 0) continue;
        const step = (this.steps.get(name) ?? 0) + 1;
        this.steps.set(name, step);
        // One tidy per weight: its temporaries are freed before the next weight's are made, so the
        // step needs memory for one weight's temporaries, not all of them (which matters in wasm's heap).
        tf.tidy(() => {
          const g = l2 > 0 ? grad.add(p.mul(k(l2))) : grad;
          if (this.cfg.name === 'sgd') {
            engine.sgd(name, p, g, { lr, momentum, nesterov }, k);
          } else {
            // fastai debiases with the current momentum (a schedule may change it) and the weight's own step.
            const beta1Power = Math.pow(momentum, step);
            const beta2Power = Math.pow(beta2, step);
            // ε is added to √v̂ = √v / √(1 − β2^t); engines add it to √v, so it is scaled by that root.
            const eps2 = eps * Math.sqrt(1 - beta2Power);
            engine.adam(name, p, g, { lr, beta1: momentum, beta1Power, beta2, beta2Power, eps: eps2, decay: adamw ? lr * wd : 0 }, k);
          }
        });
      }
    } finally {
      for (const t of scalars.values()) t.dispose();
    }
  }

  /** A weight's step count (0: not updated since the state began). */
  stepOf(name: string): number {
    return this.steps.get(name) ?? 0;
  }

  async getState(): Promise<OptimizerState> {
    return { steps: Object.fromEntries(this.steps), slots: this.engine ? await this.engine.readSlots() : {} };
  }

  setState(state: OptimizerState, variables: Map<string, tf.Variable>): void {
    this.clearState();
    for (const [name, step] of Object.entries(state.steps)) this.steps.set(name, step);
    this.updates().loadSlots(state.slots, variables);
  }

  /**
   * Forgets every weight's moments (or momentum buffer) and step count, as fastai's
   * `Optimizer.clear_state`: the next update of each weight is its first.
   */
  clearState(): void {
    this.dispose();
    this.steps.clear();
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}

/** The update rules on tfjs ops: any backend. */
export class TfjsUpdates implements UpdateEngine {
  private readonly slots = new Map<string, Map<string, tf.Variable>>();

  adam(name: string, p: tf.Variable, g: tf.Tensor, u: AdamUpdate, k: Scalars): void {
    const m = this.slot(name, 'm', p);
    const v = this.slot(name, 'v', p);
    m.assign(m.mul(k(u.beta1)).add(g.mul(k(1 - u.beta1))));
    v.assign(v.mul(k(u.beta2)).add(g.square().mul(k(1 - u.beta2))));
    // p − lr·m̂/(√v̂ + ε) with the debiasing folded into one scalar: each elementwise op is a full
    // pass over every weight.
    const stepSize = (u.lr * Math.sqrt(1 - u.beta2Power)) / (1 - u.beta1Power);
    const update = m.div(v.sqrt().add(k(u.eps))).mul(k(stepSize));
    const decayed = u.decay > 0 ? p.mul(k(1 - u.decay)) : p;
    p.assign(decayed.sub(update));
  }

  sgd(name: string, p: tf.Variable, g: tf.Tensor, u: SgdUpdate, k: Scalars): void {
    const buf = this.slot(name, 'buf', p);
    buf.assign(buf.mul(k(u.momentum)).add(g));
    const update = u.nesterov ? g.add(buf.mul(k(u.momentum))) : buf;
    p.assign(p.sub(update.mul(k(u.lr))));
  }

  private slot(name: string, slot: string, like: tf.Variable): tf.Variable {
    let perVar = this.slots.get(name);
    if (!perVar) this.slots.set(name, (perVar = new Map()));
    let v = perVar.get(slot);
    if (!v) {
      v = tf.keep(tf.variable(tf.zerosLike(like), false));
      perVar.set(slot, v);
    }
    return v;
  }

  async readSlots(): Promise<OptimizerState['slots']> {
    const slots: OptimizerState['slots'] = {};
    for (const [name, perVar] of this.slots) {
      slots[name] = {};
      for (const [slot, v] of perVar) slots[name][slot] = (await v.data()) as Float32Array;
    }
    return slots;
  }

  loadSlots(slots: OptimizerState['slots'], variables: Map<string, tf.Variable>): void {
    for (const [name, perVar] of Object.entries(slots)) {
      const like = variables.get(name);
      if (!like) continue;
      const map = new Map<string, tf.Variable>();
      for (const [slot, values] of Object.entries(perVar)) {
        map.set(slot, tf.variable(tf.tensor(values, like.shape, 'float32'), false));
      }
      this.slots.set(name, map);
    }
  }

  dispose(): void {
    for (const perVar of this.slots.values()) for (const v of perVar.values()) v.dispose();
    this.slots.clear();
  }
}

/**
 * Gradient accumulation (Lightning's accumulate_grad_batches): sums the gradients of `every`
 * batches, by variable key, and hands out their mean when a step is due.
 */
export class GradientAccumulator {
  private sum: Record<string, tf.Tensor> | null = null;
  private count = 0;

  constructor(readonly every: number) {}

  /** Adds one batch's gradients, taking ownership of the tensors. True when a step is due. */
  add(grads: Record<string, tf.Tensor>): boolean {
    if (!this.sum) {
      this.sum = { ...grads };
    } else {
      for (const [k, g] of Object.entries(grads)) {
        const next = tf.keep(this.sum[k].add(g));
        this.sum[k].dispose();
        g.dispose();
        this.sum[k] = next;
      }
    }
    this.count += 1;
    return this.count >= this.every;
  }

  /** The mean of the batches added since the last take (null if none); the caller disposes it. */
  take(): Record<string, tf.Tensor> | null {
    if (!this.sum) return null;
    const sum = this.sum;
    const n = this.count;
    this.sum = null;
    this.count = 0;
    if (n === 1) return sum;
    const mean = Object.fromEntries(Object.entries(sum).map(([k, g]) => [k, tf.keep(g.div(n))]));
    for (const g of Object.values(sum)) g.dispose();
    return mean;
  }

  dispose(): void {
    for (const g of Object.values(this.sum ?? {})) g.dispose();
    this.sum = null;
    this.count = 0;
  }
}
