// fastai's create_head for the 37 Galaxy Zoo answers, ending in the tree's normalisation layer.
import type * as tfType from '@tensorflow/tfjs';
import { meanSquaredError } from '../../framework/loss.js';
import { definePlugin, type OptionsOf } from '../../framework/plugin.js';
import type { Head } from '../../framework/contracts.js';
import { ConcatPool, batchNormalization, dropout } from '../../vision/layers/index.js';
import { GalaxyNormalisation } from '../../galaxy/layers/galaxy-normalisation.js';
import { NUM_COLUMNS } from '../../galaxy/tree.js';

export const HEAD_LAYER = {
  pool: 'head_pool',
  bn1: 'head_bn1',
  dropout1: 'head_dropout1',
  dense1: 'head_dense1',
  relu: 'head_relu',
  bn2: 'head_bn2',
  dropout2: 'head_dropout2',
  dense2: 'head_dense2',
  normalise: 'head_normalise',
} as const;

export const galaxyZooHeadSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ps: {
      type: 'number',
      minimum: 0,
      exclusiveMaximum: 1,
      default: 0.25,
      description: "dropout before the last layer (fastai's ps); the first dropout is ps/2",
    },
    hidden: { type: 'integer', minimum: 1, default: 512, description: 'units of the hidden dense layer' },
    pool: {
      enum: ['concat', 'avg'],
      default: 'concat',
      description: 'concat = global max and average pooling side by side (fastai); avg = average only',
    },
    normalise: {
      type: 'boolean',
      default: true,
      description: 'end with the decision-tree normalisation layer so outputs obey the tree',
    },
  },
} as const;

export type GalaxyZooHeadOptions = OptionsOf<typeof galaxyZooHeadSchema>;

export function createGalaxyZooHead(options: GalaxyZooHeadOptions): Head {
  const names = [
    HEAD_LAYER.pool,
    HEAD_LAYER.bn1,
    HEAD_LAYER.dropout1,
    HEAD_LAYER.dense1,
    HEAD_LAYER.relu,
    HEAD_LAYER.bn2,
    HEAD_LAYER.dropout2,
    HEAD_LAYER.dense2,
    ...(options.normalise ? [HEAD_LAYER.normalise] : []),
  ];
  return {
    // MSE on the normalised 37 answers (the Kaggle metric is its square root), over known cells only
    // where a catalogue leaves answers unknown.
    loss: meanSquaredError,
    build(tf: typeof tfType, features: tfType.SymbolicTensor): tfType.SymbolicTensor {
      if (features.shape.length !== 4) {
        throw new Error(`galaxy-zoo head expects a 4-D feature map, got shape [${features.shape.join(', ')}]`);
      }
      // PyTorch's BatchNorm1d defaults (momentum 0.1 = Keras 0.9, eps 1e-5), as fastai uses them.
      const bn = (name: string) => batchNormalization({ name, momentum: 0.9, epsilon: 1e-5 });
      let x =
        options.pool === 'concat'
          ? (new ConcatPool({ name: HEAD_LAYER.pool }).apply(features) as tfType.SymbolicTensor)
          : (tf.layers.globalAveragePooling2d({ name: HEAD_LAYER.pool }).apply(features) as tfType.SymbolicTensor);
      const chain: tfType.layers.Layer[] = [
        bn(HEAD_LAYER.bn1),
        dropout({ name: HEAD_LAYER.dropout1, rate: options.ps / 2 }),
        // fastai initialises the head's linear layers with kaiming_normal_.
        tf.layers.dense({ name: HEAD_LAYER.dense1, units: options.hidden, kernelInitializer: 'heNormal' }),
        tf.layers.activation({ name: HEAD_LAYER.relu, activation: 'relu' }),
        bn(HEAD_LAYER.bn2),
        dropout({ name: HEAD_LAYER.dropout2, rate: options.ps }),
        options.normalise
          ? // Not fastai: a question whose raw outputs are all <= 0 outputs 0 and gets no gradient.
            // Small weights and bias 1 start every raw output near 1 (uniform answers), so none is dead.
            tf.layers.dense({
              name: HEAD_LAYER.dense2,
              units: NUM_COLUMNS,
              kernelInitializer: tf.initializers.varianceScaling({ scale: 0.1, mode: 'fanIn', distribution: 'normal' }),
              biasInitializer: 'ones',
            })
          : tf.layers.dense({ name: HEAD_LAYER.dense2, units: NUM_COLUMNS, kernelInitializer: 'heNormal' }),
      ];
      if (options.normalise) chain.push(new GalaxyNormalisation({ name: HEAD_LAYER.normalise }));
      for (const layer of chain) x = layer.apply(x) as tfType.SymbolicTensor;
      return x;
    },
    layerNames: () => [...names],
    setDropout(model: tfType.LayersModel, p: number): void {
      if (!(p >= 0 && p < 1)) throw new Error(`dropout must be in [0, 1), got ${p}`);
      setHeadDropout(model, p);
    },
  };
}

/** Sets the head's dropout rates in place (first p/2, last p); tfjs's Dropout reads `rate` on every call. */
export function setHeadDropout(model: tfType.LayersModel, p: number): void {
  for (const [name, rate] of [
    [HEAD_LAYER.dropout1, p / 2],
    [HEAD_LAYER.dropout2, p],
  ] as const) {
    const layer = model.layers.find((l) => l.name === name);
    if (!layer) throw new Error(`model has no layer "${name}": it was not built with the galaxy-zoo head`);
    (layer as unknown as { rate: number }).rate = rate;
  }
}

export const galaxyZooHead = definePlugin({
  name: 'galaxy-zoo',
  kind: 'head',
  description: 'fastai-style head (concat pooling, BN, dropout, dense) ending in the decision-tree normalisation',
  optionsSchema: galaxyZooHeadSchema,
  // Defaults again here for callers that skip schema validation (tests, library users).
  create: (options: Partial<GalaxyZooHeadOptions>) => createGalaxyZooHead({ ps: 0.25, hidden: 512, pool: 'concat', normalise: true, ...options }),
});
