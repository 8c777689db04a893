// oclif's explicit command table: `gzx <id>`; a space separates topics (`gzx runs list` → `runs:list`).
import type { Command } from '@oclif/core';
import ConfigShow from './commands/config.js';
import Plugins from './commands/plugins.js';
import Validate from './commands/validate.js';

export const COMMANDS: Record<string, Command.Class> = {
  config: ConfigShow,
  plugins: Plugins,
  validate: Validate,
};
