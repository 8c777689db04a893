// What a domain adds to a run without the framework knowing it: callbacks made from the data (the
// Galaxy Zoo metrics), and pictures written after the fit. src/galaxy/training.ts is one.
import type * as tf from '@tensorflow/tfjs';
import type { DataSplits, Head, RunLogger } from './contracts.js';
import type { ExperimentConfig } from './experiment-config.js';
import type { Callback, Learner } from './learner.js';
import type { BackendReport } from '../runtime/backend.js';

export interface RunContext {
  runDir: string;
  config: ExperimentConfig;
  model: tf.LayersModel;
  splits: DataSplits;
  head: Head;
  loggers: RunLogger[];
  backend: BackendReport;
  tfRef: typeof tf;
}

export interface RunHooks {
  /** Domain callbacks (e.g. validation metrics), given the data the run trains on, its loggers and its log. */
  callbacks?: (splits: DataSplits, loggers: RunLogger[], log: (message: string) => void) => Callback[];
  /** After a finished fit: write pictures etc. into the run folder; returns paths (relative) to log as artifacts. */
  afterFit?: (ctx: RunContext, learner: Learner) => Promise<string[]>;
}
