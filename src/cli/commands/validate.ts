import { GzxCommand } from '../base.js';
import { configFileArg, setFlag } from '../flags.js';
import { createRegistry } from '../registry.js';
import { loadExperiment } from '../../core/config/load.js';

export default class Validate extends GzxCommand {
  static summary = 'Check an experiment config: keys, types, ranges, plugin names and plugin options.';
  static description =
    'Prints "<file>: OK" and exits 0, or prints every problem as <file>:<line>:<col>: <key>: <expected> and exits 1.';
  static examples = ['<%= config.bin %> validate configs/quick.yaml', '<%= config.bin %> validate configs/quick.yaml --set train.lr=3e-3'];
  static args = { file: configFileArg };
  static flags = { set: setFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Validate);
    await loadExperiment(args.file, flags.set, createRegistry());
    this.log(`${args.file}: OK`);
  }
}
