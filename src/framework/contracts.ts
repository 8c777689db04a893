// What each plugin kind's factory returns. The core trains against these small interfaces only.
import type * as tfType from '@tensorflow/tfjs';

type Tf = typeof tfType;

// ---------- data ----------

/** One labelled (or unlabelled) galaxy image. */
export interface Sample {
  id: string;
  imagePath: string;
  /** 37 answer fractions in tree order; absent for test images. */
  labels?: Float32Array;
}

export interface DataSplits {
  train: Sample[];
  valid: Sample[];
  /** Stable hash of what was read (ids + labels + options), logged with the run. */
  fingerprint: string;
  /** Centre crop applied to every decoded image before resizing (pixels of the original). */
  crop: number | null;
  /** Images skipped as unreadable (corrupt JPEGs under policy `skip`). */
  skipped: { path: string; reason: string }[];
  /** What the image pipeline does with a JPEG that fails to decode: skip and count it, or stop. */
  badImagePolicy: 'skip' | 'fail';
  /** How train and valid were chosen; the run logs `text` and keeps `details` in summary.json. */
  split?: SplitReport;
}

export interface SplitReport {
  /** One line for the run's log, e.g. "1,600 training and 400 validation galaxies, held out at random (…)". */
  text: string;
  /** The same as JSON values (seed, fraction or named set, counts), for summary.json. */
  details: Record<string, unknown>;
}

export interface DataSource {
  /** Makes sure the data exists (e.g. generates it) and returns the deterministic split. */
  prepare(): Promise<DataSplits>;
  describe(): string;
}

// ---------- augment ----------

/** Interleaved 8-bit pixels, height × width × channels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export type { Rng } from '../base/random.js';
import type { Rng } from '../base/random.js';

/** One image's draw of a geometric augmentation that is an affine map about the image centre. */
export interface AffineDraw {
  /** [a, b, c, d] = [[a, b], [c, d]], mapping an output pixel's offset from the centre to its source offset. */
  matrix: [number, number, number, number];
  /** How the source extends past its edges; null when the map never samples outside (flips, zooming in). */
  padding: 'reflection' | 'zeros' | null;
}

export interface Augmentation {
  /**
   * Transform one training image (already cropped and resized to the phase size).
   * Must return the same width/height/channels. Randomness only from `rng`,
   * so a sample's augmentation depends on (seed, epoch, index) and not on thread timing.
   */
  apply(image: RawImage, rng: Rng): RawImage | Promise<RawImage>;
  /**
   * Optional, for affine augmentations: this image's draw instead of the image, taking exactly the
   * rng draws `apply` takes. The pipeline composes consecutive affine augmentations into one
   * resampling (fastai's way): one pass and one interpolation for flip → rotate → zoom.
   */
  affine?(rng: Rng): AffineDraw;
}

// ---------- backbone ----------

export interface BackboneBuild {
  /** Input: [batch, null, null, 3] float in [0,1] (or normalised inside); output: 4-D feature map. */
  inputs: tfType.SymbolicTensor;
  features: tfType.SymbolicTensor;
  /**
   * Layer names of the backbone grouped from input to output, for discriminative learning rates
   * (fastai's layer groups). The head is always one more group after these.
   */
  layerGroups: string[][];
}

export interface Backbone {
  build(tf: Tf): BackboneBuild;
  /** Optional: load weights (by layer name) after the full model exists. Returns a report. */
  loadPretrained?(model: tfType.LayersModel, log: (m: string) => void): Promise<void>;
}

// ---------- head ----------

/**
 * A training loss over a pass: `y` and `pred` are [n, outputs]. `weights` (same shape) weigh each
 * cell — the Learner gives 1/known per known cell and 0 per unknown one when labels are partial —
 * or are null, meaning the plain mean over every cell.
 */
export type LossFn = (tf: Tf, y: tfType.Tensor, pred: tfType.Tensor, weights: tfType.Tensor | null) => tfType.Scalar;

export interface Head {
  /** The loss the model trains with (default: mean squared error, masked where labels are unknown). */
  loss?: LossFn;
  /** Turns the backbone's feature map into the 37 normalised answers. */
  build(tf: Tf, features: tfType.SymbolicTensor): tfType.SymbolicTensor;
  /** Layer names that belong to the head (trainable when the backbone is frozen). */
  layerNames(): string[];
  /** Changes dropout in place (fastai's `ps`) on a built model. */
  setDropout(model: tfType.LayersModel, p: number): void;
}

// ---------- schedule ----------

export interface ScheduleValue {
  lr: number;
  /** Momentum (SGD) or Adam's beta1; undefined leaves the optimiser's own value. */
  momentum?: number;
}

export interface Schedule {
  /** Value at `pct` in [0, 1) of the phase, for a phase whose peak rate is `maxLr`. */
  at(pct: number, maxLr: number): ScheduleValue;
}

// ---------- logger ----------

export type RunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface RunInfo {
  runId: string;
  runName: string;
  runDir: string;
  /** The fully resolved config (defaults filled) as a plain object. */
  config: Record<string, unknown>;
  /** The same config flattened to dotted keys (`train.phases.0.lr`). */
  params: Record<string, string>;
  description?: string;
  configPath: string;
  configHash: string;
  tags: Record<string, string>;
  startTime: number;
}

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

export interface RunLogger {
  start(run: RunInfo): Promise<void> | void;
  /** Tags learned during the run (backend, data fingerprint…). */
  setTags?(tags: Record<string, string>): Promise<void> | void;
  /** Params resolved during the run (a setting left to `auto`, once decided); added to `RunInfo.params`. */
  logParams?(params: Record<string, string>): Promise<void> | void;
  logMetrics(points: MetricPoint[]): Promise<void> | void;
  /** Human-readable progress (phase, epoch, step, loss, images/s, ETA); loggers may ignore it. */
  progress?(p: Progress): void;
  message?(text: string): void;
  /** A file inside the run folder that should be kept as an artifact (path relative to runDir). */
  logArtifact?(relPath: string): Promise<void> | void;
  end(status: RunStatus, summary: Record<string, unknown>): Promise<void> | void;
}

export interface Progress {
  phase: number;
  phases: number;
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSec: number;
  etaSec: number;
  size: number;
}
