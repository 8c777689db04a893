// Training-mode batch normalisation as one kernel with one gradient kernel, for backends that have
// a fused implementation (tensorflow: FusedBatchNormV3 / FusedBatchNormGradV3). The composed path
// tfjs-layers takes (moments → batchNorm, each differentiated op by op) costs ~20 full passes over
// the activation in the backward step; the fused pair costs about three.
import * as tf from '@tensorflow/tfjs';

export const BATCH_NORM_TRAINING = 'GzxBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'GzxBatchNormTrainingGrad';

export interface BatchNormTrainingAttrs {
  epsilon: number;
  /** Of the moving averages: new = old − (old − batch) · (1 − momentum), as tfjs-layers updates them. */
  momentum: number;
}

export interface BatchNormTrainingResult {
  /** Normalised, scaled and shifted input. */
  y: tf.Tensor4D;
  /** The moving mean and variance after this batch (tfjs-layers averages the biased batch variance). */
  movingMean: tf.Tensor1D;
  movingVariance: tf.Tensor1D;
}

/** Whether the current backend has the fused kernel; layers fall back to the composed path if not. */
export function hasBatchNormTraining(): boolean {
  return tf.getKernel(BATCH_NORM_TRAINING, tf.getBackend()) !== undefined;
}

/**
 * Normalises an NHWC batch over N, H and W and moves the moving statistics towards the batch's.
 * Kernel outputs: y, the new moving mean and variance, and three backend defined "reserve" tensors the
 * gradient kernel needs (cuDNN, for one, keeps an inverse std and a workspace there). The moving averages are worked
 * out inside the kernel: as ops of the layer they were ~8 taped ops per layer, an eighth of a native
 * ResNet50 step.
 */
export function batchNormTraining(
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  moving: { mean: tf.Tensor1D; variance: tf.Tensor1D },
  attrs: BatchNormTrainingAttrs,
): BatchNormTrainingResult {
  const [y, movingMean, movingVariance] = tf
    .engine()
    .runKernel(
      BATCH_NORM_TRAINING,
      { x, scale, offset, movingMean: moving.mean, movingVariance: moving.variance },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
  return { y: y as tf.Tensor4D, movingMean: movingMean as tf.Tensor1D, movingVariance: movingVariance as tf.Tensor1D };
}

tf.registerGradient({
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, false, false, true, true, true],
  gradFunc: (dys, saved, attrs) => {
    // Only y feeds the loss; the moving statistics are outputs the loss never reads.
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const [x, scale, reserve1, reserve2, reserve3] = saved;
    // One kernel gives all three gradients. It runs here, not inside the per-input thunks: the engine
    // wraps each thunk in tidy(), which would dispose the two gradients a thunk does not return.
    const [dx, dscale, doffset] = tf
      .engine()
      .runKernel(BATCH_NORM_TRAINING_GRAD, { dy, x, scale, reserve1, reserve2, reserve3 }, attrs) as tf.Tensor[];
    // The moving statistics are not trained: zero, should a caller ask for all inputs' gradients.
    return {
      x: () => dx,
      scale: () => dscale,
      offset: () => doffset,
      movingMean: () => tf.zerosLike(dscale),
      movingVariance: () => tf.zerosLike(dscale),
    };
  },
});
