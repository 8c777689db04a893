import { Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import { evaluateFiles, formatEvaluation } from '../../galaxy/evaluate.js';

export default class Evaluate extends GzxCommand {
  static summary = 'Score a predictions CSV against a truth CSV (RMSE over all 37 columns, and per question).';
  static description =
    'Both files have the header GalaxyID,Class1.1,…,Class11.6. Rows are matched by GalaxyID; every truth galaxy needs exactly one prediction.';
  static examples = ['<%= config.bin %> evaluate --predictions submission.csv --truth valid_solutions.csv'];
  static flags = {
    predictions: Flags.string({ char: 'p', required: true, description: 'Predictions CSV (e.g. the output of gzx predict).' }),
    truth: Flags.string({ char: 't', required: true, description: 'Truth CSV with the real answer fractions.' }),
    json: Flags.boolean({ description: 'Print the report as JSON.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Evaluate);
    const report = await evaluateFiles(flags.predictions, flags.truth);
    this.log(flags.json ? JSON.stringify(report, null, 2) : formatEvaluation(report));
  }
}
