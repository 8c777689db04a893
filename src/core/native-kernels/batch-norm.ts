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
    const { x, scale, offset } = inputs as { x: tf.Tensor4D; scale: tf.Tensor1D; offset: tf.Tensor1D };
    const { epsilon } = attrs as unknown as BatchNormTrainingAttrs;
    const empty = tf.tensor1d([]);
    const [y, mean, besselVariance, reserve1, reserve2] = native.executeMultipleOutputs(
      'FusedBatchNorm',
      opAttrs(native, epsilon),
      [x, scale, offset, empty, empty],
      5,
    );
    empty.dispose();
    // TensorFlow returns the unbiased variance (for Keras' moving average); tfjs-layers averages the
    // biased one, and every backend must train the same model.
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    const variance = tf.mul(besselVariance, (n - 1) / n);
    besselVariance.dispose();
    return [y, mean, variance, reserve1, reserve2];
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
