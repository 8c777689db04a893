import { GzxCommand } from '../base.js';
// Plugins (and TensorFlow.js behind them) load inside run(), so usage errors and --help stay fast.
import { configFileArg, setFlag } from '../flags.js';

export default class Validate extends GzxCommand {
  static summary = 'Check an experiment config: keys, types, ranges, plugin names and plugin options.';
  static description = 'Prints "<file>: OK" and exits 0, or prints every problem as <file>:<line>:<col>: <key>: <expected> and exits 1.';
  static examples = ['<%= config.bin %> validate configs/quickstart.yaml', '<%= config.bin %> validate configs/quickstart.yaml --set train.lr=3e-3'];
  static args = { file: configFileArg };
  static flags = { set: setFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Validate);
    const { loadExperiment } = await import('../../framework/config/load.js');
    const { createRegistry } = await import('../registry.js');
    const { checkExperiment } = await import('../../framework/config/check.js');
    const registry = createRegistry();
    const resolved = await loadExperiment(args.file, flags.set ?? [], registry);
    // What `gzx run` checks before it makes the run folder: files, option pairs, images, output_dir.
    await checkExperiment(resolved, registry, { outputDir: true });
    this.log(`${args.file}: OK`);
  }
}
