// ReLU's gradient as one kernel where the backend has one. tfjs differentiates relu as
// dy · cast(step(x)), and tfjs-node builds step from six ops (isNaN, greater, ones, fill, where,
// select): seven full passes per activation, against one for TensorFlow's own ReluGrad.
import * as tf from '@tensorflow/tfjs';

export const RELU_GRAD = 'GzxReluGrad';

let installed = false;

/**
 * Replaces the gradient registered for Relu (tfjs has one registry for all backends) with one that
 * uses the RELU_GRAD kernel when the current backend has it, and tfjs' own formula otherwise.
 * A zero gradient where x is NaN (TensorFlow's rule) instead of NaN; the loss is NaN then anyway.
 */
export function installReluGradient(): void {
  if (installed) return;
  installed = true;
  tf.registerGradient({
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const grad = dy as tf.Tensor;
      if (tf.getKernel(RELU_GRAD, tf.getBackend())) {
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: grad, x }, {}) as tf.Tensor };
      }
      return { x: () => tf.mul(grad, tf.cast(tf.step(x), 'float32')) };
    },
  });
}
