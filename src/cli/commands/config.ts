import { GzxCommand } from '../base.js';
// Plugins (and TensorFlow.js behind them) load inside run(), so usage errors and --help stay fast.
import { configFileArg, jsonFlag, setFlag } from '../flags.js';

export default class ConfigShow extends GzxCommand {
  static summary = 'Print the fully resolved config: extends merged, --set applied, every default filled.';
  static description = 'This is exactly the config a run with the same file and --set values uses (and saves as config.yaml).';
  static examples = ['<%= config.bin %> config configs/quickstart.yaml', '<%= config.bin %> config configs/quickstart.yaml --set seed=7 --json'];
  static args = { file: configFileArg };
  static flags = { set: setFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ConfigShow);
    const { loadExperiment } = await import('../../framework/config/load.js');
    const { createRegistry } = await import('../registry.js');
    const resolved = await loadExperiment(args.file, flags.set ?? [], createRegistry());
    process.stdout.write(flags.json ? JSON.stringify(resolved.config, null, 2) + '\n' : resolved.yaml);
  }
}
