// The fused training batch norm (src/runtime/kernels/batch-norm/op.ts) for wasm, from tfjs ops.
// Not faster per op than tfjs-layers' path, but fewer of them (~9 passes in the backward step instead
// of ~20), and the temporaries live only inside the kernel: the gradient tape keeps x, y and two
// per-channel vectors instead of three more activation-sized tensors per layer, which is much of what
// a ResNet50 step needs of the 4 GB heap.
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, type BatchNormTrainingAttrs } from './op.js';
import { opsKernel } from '../../wasm/tensor-info.js';

const AXES = [0, 1, 2];

export const batchNormTrainingConfig = opsKernel<BatchNormTrainingAttrs>(
  BATCH_NORM_TRAINING,
  ({ x, scale, offset, movingMean, movingVariance }, { epsilon, momentum }) => {
    const mean = tf.mean(x, AXES);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), AXES);
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const y = tf.add(tf.mul(centered, tf.mul(invStd, scale)), offset);
    // The moving averages as tfjs-layers takes them (biased variance).
    const mix = (old: tf.Tensor, batch: tf.Tensor) => tf.add(tf.mul(old, momentum), tf.mul(batch, 1 - momentum));
    // reserve1, reserve2: what the gradient needs besides x (the mean, 1/σ); reserve3 is unused here.
    return [y, mix(movingMean, mean), mix(movingVariance, variance), mean, invStd, tf.zeros([0])];
  },
);

export const batchNormTrainingGradConfig = opsKernel(BATCH_NORM_TRAINING_GRAD, ({ dy, x, scale, reserve1: mean, reserve2: invStd }) => {
  const n = x.size / x.shape[x.rank - 1]!;
  const xHat = tf.mul(tf.sub(x, mean), invStd);
  const dOffset = tf.sum(dy, AXES);
  const dScale = tf.sum(tf.mul(dy, xHat), AXES);
  // dx = scale/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
  const dx = tf.mul(tf.sub(tf.sub(dy, tf.div(dOffset, n)), tf.mul(xHat, tf.div(dScale, n))), tf.mul(scale, invStd));
  return [dx, dScale, dOffset];
});
