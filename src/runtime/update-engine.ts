// Where an optimiser's arithmetic runs: tfjs ops on any backend (the framework's default), or an
// engine a backend registers (one fused TensorFlow op per weight on tensorflow). The update rules
// themselves are the framework's (src/framework/optimizers.ts); this is only the seam.
import type * as tf from '@tensorflow/tfjs';

export interface OptimizerState {
  /** Per variable name, its updates since its state began (Adam debiases with it). */
  steps: Record<string, number>;
  /** Per variable name, per slot (m, v, buf): flat values. */
  slots: Record<string, Record<string, Float32Array>>;
}

/** One Adam update of one weight, every scalar already worked out for this step. */
export interface AdamUpdate {
  lr: number;
  /** beta1 (the scheduled momentum) and its power for debiasing; beta2 and its power. */
  beta1: number;
  beta1Power: number;
  beta2: number;
  beta2Power: number;
  /** Added to √v̂ (fastai's ε, in the units of √v̂). */
  eps: number;
  /** Decoupled weight decay this step (lr·wd for AdamW), 0 for none. */
  decay: number;
}

export interface SgdUpdate {
  lr: number;
  momentum: number;
  nesterov: boolean;
}

/**
 * The step's scalars as tensors. A JS number in an op becomes a new scalar tensor each time; this
 * makes one per distinct value per step instead of several per weight (a ResNet50 has ~220 weights,
 * most of them tiny). Valid until the step ends.
 */
export type Scalars = (value: number) => tf.Scalar;

/**
 * Applies updates to weights and keeps the per-weight slots (m, v or buf). Each call runs inside a
 * tidy of its own; `g` already includes any L2 penalty.
 */
export interface UpdateEngine {
  adam(name: string, p: tf.Variable, g: tf.Tensor, u: AdamUpdate, k: Scalars): void;
  sgd(name: string, p: tf.Variable, g: tf.Tensor, u: SgdUpdate, k: Scalars): void;
  readSlots(): Promise<OptimizerState['slots']>;
  loadSlots(slots: OptimizerState['slots'], variables: Map<string, tf.Variable>): void;
  dispose(): void;
}

/** Makes the engine for a backend; registered by registerNativeKernels on tensorflow. */
type EngineFactory = () => UpdateEngine | null;
const engineFactories = new Map<string, EngineFactory>();

/** Lets a backend provide faster updates (null from the factory: use tfjs ops). */
export function registerUpdateEngine(backend: string, factory: EngineFactory | null): void {
  if (factory) engineFactories.set(backend, factory);
  else engineFactories.delete(backend);
}

/** The engine a backend registered, or null: use tfjs ops. */
export function updateEngineFor(backend: string): UpdateEngine | null {
  return engineFactories.get(backend)?.() ?? null;
}
