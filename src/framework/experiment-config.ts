// The resolved experiment's types, derived from the schema (config/experiment-schema.ts): a key,
// its type and whether it has a default are written there once. json-schema-to-ts reads a
// property with a `default` as present, which is what ajv's useDefaults makes it.
import type { FromSchema } from 'json-schema-to-ts';
import type { experimentSchema } from './config/experiment-schema.js';

/** A config as the schema validated it, defaults filled, before the phases are completed. */
export type ExperimentInput = FromSchema<typeof experimentSchema>;

type TrainInput = ExperimentInput['train'];
type PhaseInput = TrainInput['phases'][number];

/** `{use, with}`: a plugin and its options (validated by the plugin's own schema). */
export type PluginRef = ExperimentInput['data'];

/**
 * Peak rate, or [low, high] spread over the backbone's layer groups (fastai's slice). Written here
 * because json-schema-to-ts 3 does not read draft 2020-12 `prefixItems` (it makes the pair `[]`).
 */
export type LearningRate = number | [number, number];

/**
 * A phase once the config is resolved: `size`, `lr`, `batch_size` and `schedule` are filled from
 * `train` and the top-level `schedule` (load.ts, fillPhases).
 */
export type PhaseConfig = Omit<PhaseInput, 'lr' | 'size' | 'batch_size' | 'schedule'> & {
  size: number;
  lr: LearningRate;
  batch_size: number;
  schedule: PluginRef;
};

export type OptimizerConfig = TrainInput['optimizer'];

export type TrainConfig = Omit<TrainInput, 'phases'> & { phases: PhaseConfig[] };

export type CacheImagesSetting = TrainInput['cache_images'];

/** Trials for `gzx sweep`; `gzx run` ignores it. */
export type SweepBlock = NonNullable<ExperimentInput['sweep']>;

/** The experiment a run uses: schema defaults filled, phases completed. */
export type ExperimentConfig = Omit<ExperimentInput, 'train'> & { train: TrainConfig };
