// Flags shared by commands that read an experiment config.
import { Args, Flags } from '@oclif/core';

/** `--set key.path=value`, repeatable; each occurrence takes exactly one value (non-greedy). */
export const setFlag = Flags.string({
  char: 's',
  multiple: true,
  multipleNonGreedy: true,
  default: [],
  // Help would otherwise print an empty "[default: ]".
  defaultHelp: async () => '',
  helpValue: 'key.path=value',
  description: 'Override a config value after extends (value parsed as YAML; numbers index lists), e.g. train.phases.0.lr=1e-4. Repeatable.',
});

export const jsonFlag = Flags.boolean({ description: 'Print JSON instead of text.', default: false });

export const configFileArg = Args.string({
  name: 'file',
  required: true,
  description: 'Experiment config (YAML).',
});
