import { Args, Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
// Plugins (and TensorFlow.js behind them) load inside run(), so usage errors and --help stay fast.
import { jsonFlag, setFlag } from '../flags.js';
import { describePlugins, formatPluginList } from '../../framework/config/describe.js';
import { PLUGIN_KINDS, type PluginKind } from '../../framework/plugin.js';
import { UserError } from '../../base/errors.js';
import { didYouMean } from '../../base/suggest.js';

export default class Plugins extends GzxCommand {
  static summary = 'List registered plugins with their options (type, default, description).';
  static description = `Kinds: ${PLUGIN_KINDS.join(', ')}. With --config, third-party plugins named by that config's plugins: are listed too.`;
  static examples = [
    '<%= config.bin %> plugins',
    '<%= config.bin %> plugins augment',
    '<%= config.bin %> plugins --config examples/plugins/gaussian-noise/example.yaml --json',
  ];
  static args = { kind: Args.string({ description: `Only this kind (${PLUGIN_KINDS.join(', ')}).`, required: false }) };
  static flags = {
    config: Flags.string({ char: 'c', helpValue: 'file', description: 'Also load the plugins: modules of this config.' }),
    set: setFlag,
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Plugins);
    const kind = args.kind;
    if (kind !== undefined && !(PLUGIN_KINDS as readonly string[]).includes(kind)) {
      throw new UserError(`Unknown plugin kind "${kind}".${didYouMean(kind, PLUGIN_KINDS)} Kinds: ${PLUGIN_KINDS.join(', ')}.`, 2);
    }
    const { createRegistry } = await import('../registry.js');
    const { loadConfigPlugins } = await import('../../framework/config/load.js');
    const registry = createRegistry();
    if (flags.config) await loadConfigPlugins(flags.config, flags.set ?? [], registry);
    const infos = describePlugins(registry, kind as PluginKind | undefined);
    process.stdout.write(flags.json ? JSON.stringify(infos, null, 2) + '\n' : formatPluginList(infos));
  }
}
