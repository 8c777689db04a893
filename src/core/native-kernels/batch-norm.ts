// The fused training batch norm on the tensorflow backend: TensorFlow's own FusedBatchNorm (with
// is_training) and FusedBatchNormGrad, called through tfjs-node's op executor.
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, type BatchNormTrainingAttrs } from '../ops/batch-norm-training.js';
import { type NativeBackend, floatAttrs } from './native-backend.js';

function opAttrs(backend: NativeBackend, epsilon: number) {
  const b = backend.binding;
  return [
    ...floatAttrs(backend),
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
    const empty = tf.tensor1d([]);
    const [y, mean, besselVariance, reserve1, reserve2] = native.executeMultipleOutputs(
      'FusedBatchNorm',
      opAttrs(native, epsilon),
      [x, scale, offset, empty, empty],
      5,
    );
    // The moving averages as tfjs-layers takes them (old·m + batch·(1 − m)), by direct TensorFlow
    // calls: tfjs ops here would each cost the engine's bookkeeping. TensorFlow's batch variance is
    // the unbiased one (Keras averages that); tfjs-layers averages the biased one, and every backend
    // must train the same model, hence the (n − 1)/n.
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    const keep = tf.scalar(momentum);
    const take = tf.scalar(1 - momentum);
    const takeBiased = tf.scalar(((1 - momentum) * (n - 1)) / n);
    const mix = (old: tf.TensorInfo, batch: tf.TensorInfo, weight: tf.Tensor) => {
      const a = native.executeSingleOutput('Mul', floatAttrs(native), [old, keep]);
      const b = native.executeSingleOutput('Mul', floatAttrs(native), [batch, weight]);
      const sum = native.executeSingleOutput('AddV2', floatAttrs(native), [a, b]);
      tf.dispose([a, b]);
      return sum;
    };
    const newMean = mix(movingMean, mean, take);
    const newVariance = mix(movingVariance, besselVariance, takeBiased);
    tf.dispose([empty, keep, take, takeBiased, mean, besselVariance]);
    return [y, newMean, newVariance, reserve1, reserve2];
  },
};

export const batchNormTrainingGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const native = backend as unknown as NativeBackend;
    const { dy, x, scale, reserve1, reserve2 } = inputs as Record<string, tf.TensorInfo>;
    const { epsilon } = attrs as unknown as BatchNormTrainingAttrs;
    const [dx, dscale, doffset, unused3, unused4] = native.executeMultipleOutputs(
      'FusedBatchNormGrad',
      opAttrs(native, epsilon),
      [dy, x, scale, reserve1, reserve2],
      5,
    );
    tf.dispose([unused3, unused4]);
    return [dx, dscale, doffset];
  },
};
