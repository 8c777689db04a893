// The resolved experiment, as validated by schemas/experiment.schema.json with defaults filled.

export interface PluginRef {
  use: string;
  with: Record<string, unknown>;
}

export interface PhaseConfig {
  name?: string;
  epochs: number;
  /** Image side in pixels for this phase (progressive resizing); defaults to train.size. */
  size?: number;
  /** `backbone`: only the head (and BatchNorm layers) train, as in fastai. */
  freeze: 'backbone' | 'none';
  /** Peak rate, or [low, high] spread over the backbone's layer groups (fastai's slice). */
  lr: number | [number, number];
  /** Head dropout set in place at the start of the phase. */
  dropout?: number;
  batch_size?: number;
  /** Defaults to the experiment's top-level `schedule`. */
  schedule?: PluginRef;
}

export interface OptimizerConfig {
  name: 'adam' | 'adamw' | 'sgd';
  /** Weight decay: L2 for adam/sgd, decoupled for adamw. */
  wd: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** SGD momentum. */
  momentum: number;
  nesterov: boolean;
  /**
   * Clear the optimiser's state (moments, step counts) when a phase's `freeze` differs from the
   * previous phase's, as fastai's freeze()/unfreeze(); default true.
   */
  reset_on_freeze?: boolean;
}

export interface TrainConfig {
  batch_size: number;
  valid_batch_size: number;
  size: number;
  lr: number;
  optimizer: OptimizerConfig;
  /** Gradient accumulation: optimiser step every N batches. */
  accumulate: number;
  /** Training passes as compiled graphs where the backend can (tensorflow on CPU). */
  compile: boolean;
  phases: PhaseConfig[];
  /** Image decoding worker threads: 0 = in the main thread; 'auto' = one per core (imageWorkerCount). */
  workers: number | 'auto';
  /** Keep decoded, resized images in memory across epochs; 'disk': also for later runs; 'auto': in memory when they fit (autoCachePlan). */
  cache_images: CacheImagesSetting;
  /** Folder of the disk cache (relative to the config); null = $GZX_CACHE_DIR or ~/.cache/gzx/images (diskCacheDir). */
  cache_dir: string | null;
  /** Stop an epoch after this many steps (quick experiments); 0 = no limit. */
  max_steps_per_epoch: number;
}

export type CacheImagesSetting = boolean | 'disk' | 'auto';

export interface ExperimentConfig {
  name: string;
  description: string;
  seed: number;
  /** Third-party plugin modules, loaded before validation. */
  plugins: string[];
  output_dir: string;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** Thread pools of the native TensorFlow backend (docs/native.md "Threads"). */
  threads: { intra_op: number | 'auto'; inter_op: number | 'auto' };
  data: PluginRef;
  augment: PluginRef[];
  backbone: PluginRef;
  head: PluginRef;
  schedule: PluginRef;
  logger: PluginRef[];
  callbacks: PluginRef[];
  train: TrainConfig;
  /** Trials for `gzx sweep`; `gzx run` ignores it. */
  sweep?: SweepBlock;
}

export interface SweepBlock {
  method: 'grid' | 'random';
  trials?: number;
  seed: number;
  /** Dotted key → a list of values or a spec string (`a,b`, `range(…)`, `choice(…)`, `interval(…)`). */
  params: Record<string, string | number | boolean | unknown[]>;
  launcher: 'local' | 'slurm';
  jobs: number;
  /** Options of the slurm launcher (src/app/sweep/slurm.ts). */
  slurm?: {
    partition?: string;
    time?: string;
    cpus_per_task?: number;
    mem?: string;
    gpus?: number;
    max_parallel?: number;
    extra?: string[];
  };
}
