import { Flags } from '@oclif/core';
import { GzxCommand } from '../../base.js';

export default class DataSynth extends GzxCommand {
  static summary = 'Generate a synthetic Galaxy Zoo dataset in the Kaggle layout (deterministic from the seed).';
  static description =
    'Writes training_solutions_rev1.csv, images_training_rev1/<GalaxyID>.jpg, optional unlabelled images_test_rev1/ ' +
    'and synth.json. A folder whose synth.json matches is reused; the same seed always gives the same bytes. ' +
    'See docs/synthetic.md for how each label shapes the images.';
  static examples = [
    '<%= config.bin %> data synth --out data/synth-2k --count 2000',
    '<%= config.bin %> data synth --out data/synth-small --count 500 --size 128 --seed 7 --test-count 100',
  ];
  static flags = {
    out: Flags.string({ char: 'o', required: true, description: 'Output folder (created; reused when its synth.json matches).' }),
    count: Flags.integer({ char: 'n', default: 2000, min: 1, description: 'Number of labelled training images.' }),
    size: Flags.integer({ default: 424, min: 32, max: 1024, description: 'Image side in pixels (the real images are 424).' }),
    seed: Flags.integer({ default: 1, min: 0, description: 'Generator seed: the same seed gives the same labels and bytes.' }),
    'test-count': Flags.integer({ default: 0, min: 0, description: 'Unlabelled images for images_test_rev1/.' }),
    force: Flags.boolean({ default: false, description: 'Regenerate a folder that holds a different synthetic dataset.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataSynth);
    const { writeSyntheticDataset } = await import('../../../galaxy/synth/dataset.js');
    const { checkOutputPath } = await import('../../../base/output-path.js');
    await checkOutputPath(flags.out, 'folder', '--out');
    const tty = process.stderr.isTTY;
    const result = await writeSyntheticDataset(
      { dir: flags.out, count: flags.count, size: flags.size, seed: flags.seed, testCount: flags['test-count'], force: flags.force },
      (p) => {
        const rate = p.done / Math.max(p.elapsedSec, 1e-9);
        const eta = Math.round((p.total - p.done) / Math.max(rate, 1e-9));
        const line = `synth: ${p.done}/${p.total} images, ${rate.toFixed(0)}/s, ${eta}s left`;
        // One updating line on a terminal; plain lines in logs.
        process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      },
      (pid) => process.stderr.write(`synth: process ${pid} is generating ${flags.out}; waiting for it to finish\n`),
    );
    if (tty && !result.reused) process.stderr.write('\n');
    const m = result.manifest;
    const test = m.testCount > 0 ? ` and ${m.testCount} test images` : '';
    this.log(
      result.reused
        ? `${result.dir}: already holds this dataset (seed ${m.seed}, ${m.count} images of ${m.size}px${test}); reused.`
        : `${result.dir}: wrote ${m.count} training images${test} of ${m.size}px in ${result.elapsedSec.toFixed(1)}s ` +
            `(${result.imagesPerSec.toFixed(1)} images/s).`,
    );
  }
}
