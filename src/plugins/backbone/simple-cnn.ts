import { definePlugin } from '../../framework/plugin.js';
import type { Backbone } from '../../framework/contracts.js';
import { batchNormalization } from '../../vision/layers/batch-normalization.js';
import { conv2d } from '../../vision/layers/conv2d.js';

/** A small VGG-like net (conv → BatchNorm → ReLU, stride-2 downsampling) for quick work on CPU. */
export const simpleCnnBackbone = definePlugin({
  name: 'simple-cnn',
  kind: 'backbone',
  description: 'a small conv net (conv-BN-ReLU blocks, stride-2 downsampling) for quick experiments on CPU',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      channels: {
        type: 'array',
        items: { type: 'integer', minimum: 1 },
        minItems: 1,
        default: [16, 32, 64, 128],
        description: 'output channels of each block; each block halves the image size',
      },
      convs_per_block: { type: 'integer', minimum: 1, default: 1, description: 'convolutions per block' },
    },
  },
  create: (o): Backbone => ({
    build: (tf) => {
      const inputs = tf.input({ shape: [null, null, 3], name: 'image' });
      let x: ReturnType<typeof tf.input> = inputs;
      const groups: string[][] = [[], []];
      o.channels.forEach((filters, b) => {
        for (let c = 0; c < o.convs_per_block; c++) {
          const prefix = `cnn_block${b + 1}_${c + 1}`;
          const conv = conv2d({
            filters,
            kernelSize: 3,
            strides: c === 0 ? 2 : 1,
            padding: 'same',
            useBias: false,
            name: `${prefix}_conv`,
          });
          // momentum 0.9 = PyTorch's 0.1: running statistics settle within a short run.
          const bn = batchNormalization({ name: `${prefix}_bn`, momentum: 0.9, epsilon: 1e-5 });
          const relu = tf.layers.reLU({ name: `${prefix}_relu` });
          x = relu.apply(bn.apply(conv.apply(x))) as typeof x;
          // Two layer groups (early, late) for discriminative rates.
          groups[b < o.channels.length / 2 ? 0 : 1].push(conv.name, bn.name, relu.name);
        }
      });
      return { inputs, features: x, layerGroups: groups.filter((g) => g.length > 0) };
    },
  }),
});
