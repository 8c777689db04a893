// oclif's explicit command table: `gzx <id>`; a space separates topics (`gzx runs list` → `runs:list`).
import type { Command } from '@oclif/core';
import ConfigShow from './commands/config.js';
import Evaluate from './commands/evaluate.js';
import Plugins from './commands/plugins.js';
import Validate from './commands/validate.js';
import Run from './commands/run.js';
import LrFind from './commands/lr-find.js';

export const COMMANDS: Record<string, Command.Class> = {
  config: ConfigShow,
  evaluate: Evaluate,
  plugins: Plugins,
  validate: Validate,
  run: Run,
  'lr-find': LrFind,
};
