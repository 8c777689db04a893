import { Args, Flags } from '@oclif/core';
import { GzxCommand } from '../base.js';
// TensorFlow.js and h5wasm load inside run(), so usage errors and --help stay fast.
import { setFlag } from '../flags.js';
import { UserError } from '../../base/errors.js';

export default class Weights extends GzxCommand {
  static summary = "Show what a pretrained weights file holds, or check how it loads into a config's backbone.";
  static description =
    "SOURCE is a Keras .h5 file or a TensorFlow.js model folder. With --config, builds that config's backbone " +
    "(no training) and loads SOURCE, or the config's backbone.with.pretrained, by layer name: prints the layers " +
    'loaded, skipped (missing or other shape) and unused, and exits 1 if none loads.';
  static examples = [
    '<%= config.bin %> weights weights/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
    '<%= config.bin %> weights --config configs/resnet50-progressive.yaml',
    '<%= config.bin %> weights runs/<id> --config configs/my-resnet18.yaml',
  ];
  static args = {
    source: Args.string({ description: 'Keras .h5 weights file or TensorFlow.js model folder.', required: false }),
  };
  static flags = {
    config: Flags.string({ char: 'c', helpValue: 'file', description: 'Check against the backbone of this experiment config.' }),
    set: setFlag,
    all: Flags.boolean({ description: 'List every layer of the file instead of the first 12 (without --config).', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Weights);
    const limit = flags.all ? Number.POSITIVE_INFINITY : 12;
    if (!flags.config) {
      if (!args.source)
        throw new UserError('gzx weights: give a weights file or folder, or --config <file> to check its backbone.with.pretrained.', 2);
      const { describeWeightSource } = await import('../../vision/weights/inspect.js');
      for (const line of await describeWeightSource(args.source, limit)) this.log(line);
      return;
    }
    const { loadExperiment } = await import('../../framework/config/load.js');
    const { createRegistry } = await import('../registry.js');
    const { checkBackboneWeights } = await import('../../vision/weights/inspect.js');
    const registry = createRegistry();
    const resolved = await loadExperiment(flags.config, flags.set ?? [], registry);
    await checkBackboneWeights(resolved, registry, args.source, (line) => this.log(line));
  }
}
