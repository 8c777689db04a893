import { Args, Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import { setFlag } from '../flags.js';

export default class Run extends GzxCommand {
  static summary = 'Train a model from an experiment config and record the run.';
  static description =
    'Resolves the config (extends, --set, defaults), trains phase by phase with progress, writes runs/<id>/ ' +
    '(config, params, metrics, checkpoints, model, summary) and prints the validation RMSE next to the column-mean baseline. ' +
    'Ctrl-C stops after the current batch and keeps the last checkpoint; --resume continues from it.';
  static examples = [
    '<%= config.bin %> run configs/quickstart.yaml',
    '<%= config.bin %> run configs/quickstart.yaml --set train.phases.0.epochs=5',
    '<%= config.bin %> run --resume runs/20261128-101500-quickstart',
  ];
  static args = { file: Args.string({ description: 'Experiment config (YAML).', required: false }) };
  static flags = {
    set: setFlag,
    resume: Flags.string({ description: 'Continue a run folder from its last checkpoint.', helpValue: 'runs/<id>' }),
    // How `gzx sweep` starts a trial (trials/NNN.json in the sweep folder).
    trial: Flags.string({ hidden: true, exclusive: ['resume', 'set'] }),
  };

  async run(): Promise<void> {
    // Loaded here, not at import: TensorFlow.js start-up would slow every other command.
    const { trainExperiment } = await import('../../app/experiment.js');
    const { args, flags } = await this.parse(Run);
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts += 1;
      if (interrupts === 1) {
        process.stderr.write('\nstopping after this batch (Ctrl-C again to quit at once)…\n');
        controller.abort();
      } else {
        process.exit(130);
      }
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await trainExperiment({
        configFile: args.file,
        sets: flags.set,
        resumeDir: flags.resume,
        trialFile: flags.trial,
        signal: controller.signal,
      });
      const final = (result.summary.final ?? {}) as Record<string, number>;
      const notes = (result.summary.metric_notes ?? {}) as Record<string, string>;
      if (typeof final.valid_rmse === 'number') {
        const gain = 100 * (1 - final.valid_rmse / final.baseline_rmse);
        const verdict = gain >= 0 ? `${gain.toFixed(0)}% lower` : `${(-gain).toFixed(0)}% higher: not better than the baseline yet`;
        const note = notes.valid_rmse ? ` (${notes.valid_rmse})` : '';
        this.log(`validation RMSE ${final.valid_rmse.toFixed(4)}${note}   column-mean baseline ${final.baseline_rmse.toFixed(4)}   (${verdict})`);
      }
      this.log(`run ${result.status.toLowerCase()}: ${result.runDir}`);
      if (result.status === 'KILLED') process.exitCode = 130;
      else if (result.status !== 'FINISHED') process.exitCode = 1;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }
}
