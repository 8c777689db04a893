import { Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import { selectBackend, type BackendPreference } from '../../runtime/backend.js';
import { predictToCsv, parseTtaSpec } from '../../galaxy/predict.js';

export const modelFlag = Flags.string({
  char: 'm',
  required: true,
  description: 'Run folder (runs/<id>, holds model/ and config.yaml) or a model folder with model.json.',
});
export const imagesFlag = Flags.string({ char: 'i', required: true, description: 'Folder of galaxy images named <GalaxyID>.jpg.' });
export const sizeFlag = Flags.integer({ min: 1, description: "Model input side in pixels (default: the run config's last phase size)." });
export const cropFlag = Flags.integer({
  min: 0,
  description: 'Centre crop in source pixels before resizing; 0 = none (default: data.with.crop of the run config).',
});
export const backendFlag = Flags.string({
  options: ['auto', 'tensorflow', 'wasm', 'cpu'],
  default: 'auto',
  description: 'TensorFlow.js backend.',
});

export default class Predict extends GzxCommand {
  static summary = 'Write a Kaggle submission CSV: the 37 answers for every image of a folder, sorted by GalaxyID.';
  static description =
    'Images are read in GalaxyID order and processed in batches; rows are written as each batch finishes, so memory stays flat ' +
    'for the 79,975 test images. --tta N averages N views: up to 8 exact right-angle rotations/mirrors, above 8 N/2 evenly ' +
    'spaced rotations each mirrored. --tta-views gives the set explicitly; Dieleman et al. (2015) used 60 views: ' +
    '--tta-views rotations=10,scales=0.8333:1:1.2,flip.';
  static examples = [
    '<%= config.bin %> predict --model runs/20261128-101500-quickstart --images data/images_test_rev1 --out submission.csv',
    '<%= config.bin %> predict -m runs/<id> -i data/images_test_rev1 -o submission.csv --tta 8 --batch-size 64',
  ];
  static flags = {
    model: modelFlag,
    images: imagesFlag,
    out: Flags.string({ char: 'o', required: true, description: 'Submission CSV to write.' }),
    tta: Flags.integer({ min: 1, description: 'Number of test-time views to average (default 1).', exclusive: ['tta-views'] }),
    'tta-views': Flags.string({ description: 'Explicit views: rotations=N,scales=a:b:c,flip.' }),
    'batch-size': Flags.integer({ min: 1, default: 32, description: 'Images per forward pass.' }),
    size: sizeFlag,
    crop: cropFlag,
    backend: backendFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Predict);
    const log = (m: string) => process.stderr.write(m + '\n');
    await selectBackend(flags.backend as BackendPreference, log);
    const summary = await predictToCsv({
      model: flags.model,
      images: flags.images,
      out: flags.out,
      tta: flags['tta-views'] ? parseTtaSpec(flags['tta-views']) : (flags.tta ?? 1),
      batchSize: flags['batch-size'],
      size: flags.size,
      crop: flags.crop === undefined ? undefined : flags.crop === 0 ? null : flags.crop,
      log,
    });
    this.log(
      `wrote ${summary.out}: ${summary.images} rows (crop ${summary.crop ?? 'none'}, size ${summary.size}, ${summary.views} view${summary.views === 1 ? '' : 's'}) ` +
        `in ${summary.seconds.toFixed(1)} s, ${summary.imagesPerSec.toFixed(1)} images/s`,
    );
  }
}
