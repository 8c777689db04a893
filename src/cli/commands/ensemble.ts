import { Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
import type { BackendPreference } from '../../runtime/backend.js';
import { parseTtaSpec, ttaViews } from '../../galaxy/predict.js';
import { backendFlag } from './predict.js';

export default class Ensemble extends GzxCommand {
  static summary = "Average several models' predictions (renormalised to obey the tree); score each model and the ensemble.";
  static description =
    'Members are run folders (-m, repeatable) and/or the --top K finished trials of a sweep (--from-sweep). Each member predicts ' +
    'with its own crop and size, averaged over the test-time views (--tta/--tta-views), weighted by --weights. With -i the images ' +
    'of a folder are predicted (-o writes the submission, -t scores it); without -i the ensemble is scored on the validation split ' +
    'the members share.';
  static examples = [
    '<%= config.bin %> ensemble -m runs/a -m runs/b -i data/images_test_rev1 -o submission.csv --tta 8',
    '<%= config.bin %> ensemble --from-sweep runs/quickstart-sweep-1a2b3c4d --top 3',
    '<%= config.bin %> ensemble -m runs/a -m runs/b --weights 2,1 -i heldout/images_training_rev1 -t heldout/training_solutions_rev1.csv',
  ];
  static flags = {
    model: Flags.string({ char: 'm', multiple: true, default: [], description: 'A member: run folder (runs/<id>) or model folder. Repeatable.' }),
    'from-sweep': Flags.string({
      description: 'Take members from a sweep folder: its --top K finished trials by best valid RMSE.',
      helpValue: 'runs/<sweep-id>',
    }),
    top: Flags.integer({ min: 1, description: 'How many trials --from-sweep takes (default 3).' }),
    weights: Flags.string({ description: 'One weight per member (-m order, then sweep trials best first), e.g. 2,1,1; default equal.' }),
    images: Flags.string({ char: 'i', description: 'Folder of galaxy images to predict (default: the validation split the members share).' }),
    truth: Flags.string({ char: 't', description: "Solutions CSV of those images: prints each member's RMSE and the ensemble's." }),
    out: Flags.string({ char: 'o', description: 'Submission CSV to write.' }),
    tta: Flags.integer({ min: 1, description: 'Test-time views per model (as gzx predict).', exclusive: ['tta-views'] }),
    'tta-views': Flags.string({ description: 'Explicit views: rotations=N,scales=a:b:c,flip.' }),
    'batch-size': Flags.integer({ min: 1, default: 32, description: 'Images per forward pass.' }),
    backend: backendFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ensemble);
    const { ensemble } = await import('../../app/ensemble.js');
    const { formatEnsembleReport, parseWeights } = await import('../../galaxy/ensemble.js');
    const log = (m: string) => process.stderr.write(`${m}\n`);
    const report = await ensemble({
      models: flags.model,
      fromSweep: flags['from-sweep'],
      top: flags.top,
      weights: flags.weights ? parseWeights(flags.weights) : undefined,
      images: flags.images,
      truth: flags.truth,
      out: flags.out,
      views: flags['tta-views'] ? parseTtaSpec(flags['tta-views']) : ttaViews(flags.tta ?? 1),
      batchSize: flags['batch-size'],
      backend: flags.backend as BackendPreference,
      log,
    });
    this.log(formatEnsembleReport(report));
  }
}
