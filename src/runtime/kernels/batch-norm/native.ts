// The fused training batch norm on the tensorflow backend: TensorFlow's own FusedBatchNormV3 (with
// is_training, moving averages included) and FusedBatchNormGradV3, called through tfjs-node's op
// executor.
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, type BatchNormTrainingAttrs } from './op.js';
import { type NativeBackend, floatAttrs } from '../../native/native-backend.js';

/** The attributes FusedBatchNormV3 and its gradient share. */
function opAttrs(backend: NativeBackend, epsilon: number) {
  const b = backend.binding;
  return [
    ...floatAttrs(backend),
    { name: 'U', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.TF_ATTR_BOOL, value: true },
  ];
}

export const batchNormTrainingConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const native = backend as unknown as NativeBackend;
    const { x, scale, offset, movingMean, movingVariance } = inputs as Record<string, tf.TensorInfo>;
    const { epsilon, momentum } = attrs as unknown as BatchNormTrainingAttrs;
    // TensorFlow moves the averages itself (old·m + batch·(1 − m) with factor 1 − m), but towards the
    // unbiased batch variance u (Keras's choice); tfjs-layers averages the biased one, b·u, and every
    // backend must train the same model. m·old + (1 − m)·b·u = b·(m·old/b + (1 − m)·u): the old
    // variance goes in divided by b and the result comes out times b. b is TensorFlow's own
    // (n − 1)/n, taken as 1 for n = 1. Two multiplications instead of six ops of our own averaging
    // (≈ 0.3 ms per layer in tfjs-node's per-op cost).
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    const bessel = n > 1 ? (n - 1) / n : 1;
    const toUnbiased = tf.scalar(1 / bessel);
    const toBiased = tf.scalar(bessel);
    const oldVariance = native.executeSingleOutput('Mul', floatAttrs(native), [movingVariance, toUnbiased]);
    const [y, newMean, unbiasedVariance, reserve1, reserve2, reserve3] = native.executeMultipleOutputs(
      'FusedBatchNormV3',
      [...opAttrs(native, epsilon), { name: 'exponential_avg_factor', type: native.binding.TF_ATTR_FLOAT, value: 1 - momentum }],
      [x, scale, offset, movingMean, oldVariance],
      6,
    );
    const newVariance = native.executeSingleOutput('Mul', floatAttrs(native), [unbiasedVariance, toBiased]);
    tf.dispose([toUnbiased, toBiased, oldVariance, unbiasedVariance]);
    return [y, newMean, newVariance, reserve1, reserve2, reserve3];
  },
};

export const batchNormTrainingGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const native = backend as unknown as NativeBackend;
    const { dy, x, scale, reserve1, reserve2, reserve3 } = inputs as Record<string, tf.TensorInfo>;
    const { epsilon } = attrs as unknown as BatchNormTrainingAttrs;
    const [dx, dscale, doffset, unused3, unused4] = native.executeMultipleOutputs(
      'FusedBatchNormGradV3',
      opAttrs(native, epsilon),
      [dy, x, scale, reserve1, reserve2, reserve3],
      5,
    );
    tf.dispose([unused3, unused4]);
    return [dx, dscale, doffset];
  },
};
