// The galaxy normalisation (src/galaxy/tree.ts) as one kernel with one gradient kernel, worked out
// in JavaScript on the [batch, 37] values, for backends whose tensors live in host memory. As tensor
// ops it is ~80 tiny kernels per training step (matrix products, reshapes, element-wise work on
// 32×37 values); on native TensorFlow each costs a fixed ~20–200 µs, a fifth of a small CNN's step,
// while reading 37 values per image and computing them here takes microseconds. Not for GPUs: the
// read would stall the device mid-step, so the layer keeps its tensor ops there.
import * as tf from '@tensorflow/tfjs';
import { NUM_COLUMNS, normaliseRows, normaliseRowsGradient } from '../../galaxy/tree.js';

export const GALAXY_NORMALISE = 'GzxGalaxyNormalise';
export const GALAXY_NORMALISE_GRAD = 'GzxGalaxyNormaliseGrad';

function read(backend: tf.KernelBackend, info: tf.TensorInfo): Float32Array {
  if (info.dtype !== 'float32' || info.shape.length !== 2 || info.shape[1] !== NUM_COLUMNS) {
    throw new Error(`${GALAXY_NORMALISE} expects float32 [batch, ${NUM_COLUMNS}], got ${info.dtype} [${info.shape.join(', ')}]`);
  }
  return backend.readSync(info.dataId) as Float32Array;
}

/** The kernel and its gradient kernel for one backend. */
export function galaxyNormaliseKernels(backendName: string): tf.KernelConfig[] {
  return [
    {
      kernelName: GALAXY_NORMALISE,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const values = read(backend as tf.KernelBackend, inputs.x!);
        const out = new Float32Array(values.length);
        normaliseRows(values, out);
        return tf.tensor2d(out, inputs.x!.shape as [number, number]);
      },
    },
    {
      kernelName: GALAXY_NORMALISE_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const values = read(backend as tf.KernelBackend, inputs.x!);
        const dy = read(backend as tf.KernelBackend, inputs.dy!);
        const dx = new Float32Array(values.length);
        normaliseRowsGradient(values, dy, dx);
        return tf.tensor2d(dx, inputs.x!.shape as [number, number]);
      },
    },
  ];
}

/** Whether the current backend has the kernel; the layer uses its tensor ops if not. */
export function hasGalaxyNormaliseKernel(): boolean {
  return tf.getKernel(GALAXY_NORMALISE, tf.getBackend()) !== undefined;
}

export function galaxyNormaliseKernel(x: tf.Tensor2D): tf.Tensor2D {
  return tf.engine().runKernel(GALAXY_NORMALISE, { x }, {}) as tf.Tensor2D;
}

tf.registerGradient({
  kernelName: GALAXY_NORMALISE,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.engine().runKernel(GALAXY_NORMALISE_GRAD, { dy: dy as tf.Tensor, x }, {}) as tf.Tensor }),
});
