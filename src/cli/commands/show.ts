import { Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import { selectBackend, type BackendPreference } from '../../runtime/backend.js';
import { showResults } from '../../galaxy/show.js';
import { modelFlag, imagesFlag, sizeFlag, cropFlag, backendFlag } from './predict.js';

export default class Show extends GzxCommand {
  static summary = 'Save a PNG grid of galaxies with their predicted (and true) answers in words, like fastai show_results.';
  static description =
    'Takes the first --n images by GalaxyID (with --truth, the first that have a truth row). Each caption gives the id, ' +
    'the RMSE of that galaxy, the true answers along the decision tree and the predicted ones with their shares; the ' +
    'prediction is green when its Q1 answer matches the truth, red otherwise.';
  static examples = [
    '<%= config.bin %> show --model runs/<id> --images data/images_training_rev1 --truth data/training_solutions_rev1.csv --out grid.png',
    '<%= config.bin %> show -m runs/<id> -i data/images_test_rev1 -o test-grid.png --n 9',
  ];
  static flags = {
    model: modelFlag,
    images: imagesFlag,
    truth: Flags.string({ char: 't', description: 'Truth CSV (GalaxyID,Class1.1,…) to show the true answers and RMSE.' }),
    out: Flags.string({ char: 'o', required: true, description: 'PNG file to write.' }),
    n: Flags.integer({ min: 1, default: 16, description: 'Number of galaxies.' }),
    columns: Flags.integer({ min: 1, description: 'Grid columns (default: about the square root of n).' }),
    tta: Flags.integer({ min: 1, default: 1, description: 'Number of test-time views to average (as in predict).' }),
    size: sizeFlag,
    crop: cropFlag,
    backend: backendFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Show);
    const log = (m: string) => process.stderr.write(m + '\n');
    await selectBackend(flags.backend as BackendPreference, log);
    const summary = await showResults({
      model: flags.model,
      images: flags.images,
      truth: flags.truth,
      out: flags.out,
      n: flags.n,
      columns: flags.columns,
      tta: flags.tta,
      size: flags.size,
      crop: flags.crop === undefined ? undefined : flags.crop === 0 ? null : flags.crop,
    });
    this.log(`wrote ${summary.out}: ${summary.shown} galaxies` + (summary.rmse !== undefined ? `, RMSE ${summary.rmse.toFixed(4)} on them` : ''));
  }
}
