import { Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import { configFileArg, setFlag } from '../flags.js';

export default class LrFind extends GzxCommand {
  static summary = "Run fastai's learning-rate range test and plot loss against rate.";
  static description =
    'Trains from the first phase with an exponentially growing rate until the loss diverges, writes ' +
    'runs/<id>-lr-find/artifacts/lr-find.png (log-scale rate, suggestion marked) and prints the suggested rate.';
  static examples = ['<%= config.bin %> lr-find configs/quickstart.yaml'];
  static args = { file: configFileArg };
  static flags = {
    set: setFlag,
    'start-lr': Flags.string({ description: 'First rate.', default: '1e-7' }),
    'end-lr': Flags.string({ description: 'Last rate.', default: '10' }),
    'num-it': Flags.integer({ description: 'Steps of the test.', default: 100, min: 5 }),
  };

  async run(): Promise<void> {
    // Loaded here, not at import: TensorFlow.js start-up would slow every other command.
    const { findLearningRate } = await import('../../app/experiment.js');
    const { args, flags } = await this.parse(LrFind);
    const startLr = Number(flags['start-lr']);
    const endLr = Number(flags['end-lr']);
    if (!(startLr > 0) || !(endLr > startLr)) {
      this.error(`--start-lr and --end-lr must be positive numbers with start < end (got ${flags['start-lr']}, ${flags['end-lr']}).`, { exit: 2 });
    }
    const result = await findLearningRate({ configFile: args.file, sets: flags.set }, { startLr, endLr, numIt: flags['num-it'] });
    this.log(`suggested learning rate: ${result.suggestion.toExponential(2)}`);
    this.log(`plot: ${result.plot}`);
  }
}
