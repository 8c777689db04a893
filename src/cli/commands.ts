// oclif's explicit command table: `gzx <id>`; a space separates topics (`gzx runs list` → `runs:list`).
import type { Command } from '@oclif/core';

export const COMMANDS: Record<string, Command.Class> = {};
