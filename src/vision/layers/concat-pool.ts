// fastai's AdaptiveConcatPool2d with output size 1: global max and average pooling side by side.
// tfjs has the two pools but not their concatenation as one layer; one layer keeps the head's
// layer list (and names) the same as fastai's create_head.
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology.js';
import { CONCAT_POOL, concatPoolKernel, useHostKernel } from '../../runtime/kernels/host/op.js';

export class ConcatPool extends tf.layers.Layer {
  static className = 'GzxConcatPool';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 4) throw new Error(`ConcatPool expects a 4-D feature map, got shape [${shape.join(', ')}]`);
    const channels = shape[3];
    return [shape[0], channels == null ? null : 2 * channels];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    // One kernel where the backend has it (src/runtime/kernels/host/op.ts), else tensor ops.
    if (useHostKernel(CONCAT_POOL, x)) return concatPoolKernel(x);
    // Max first, then average: the order of fastai's AdaptiveConcatPool2d.
    return tf.tidy(() => tf.concat([tf.max(x, [1, 2]), tf.mean(x, [1, 2])], 1));
  }
}

tf.serialization.registerClass(ConcatPool);
