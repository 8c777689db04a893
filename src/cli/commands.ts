// oclif's explicit command table: `gzx <id>`; a space separates topics (`gzx runs list` → `runs:list`).
import type { Command } from '@oclif/core';
import ConfigShow from './commands/config.js';
import Evaluate from './commands/evaluate.js';
import Predict from './commands/predict.js';
import Show from './commands/show.js';
import Plugins from './commands/plugins.js';
import Validate from './commands/validate.js';
import Run from './commands/run.js';
import Sweep from './commands/sweep.js';
import SweepStatus from './commands/sweep/status.js';
import Ensemble from './commands/ensemble.js';
import LrFind from './commands/lr-find.js';
import Doctor from './commands/doctor.js';
import RunsList from './commands/runs/list.js';
import RunsCompare from './commands/runs/compare.js';
import RunsSync from './commands/runs/sync.js';
import DataSynth from './commands/data/synth.js';
import Weights from './commands/weights.js';

export const COMMANDS: Record<string, Command.Class> = {
  doctor: Doctor,
  config: ConfigShow,
  evaluate: Evaluate,
  predict: Predict,
  show: Show,
  plugins: Plugins,
  validate: Validate,
  run: Run,
  sweep: Sweep,
  'sweep:status': SweepStatus,
  ensemble: Ensemble,
  'lr-find': LrFind,
  'runs:list': RunsList,
  'runs:compare': RunsCompare,
  'runs:sync': RunsSync,
  'data:synth': DataSynth,
  weights: Weights,
};
