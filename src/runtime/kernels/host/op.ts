// Small ops of the model head as kernels worked out in JavaScript, for backends whose tensors live
// in host memory (tensorflow on CPU, wasm): dropout and concat pooling here, and whatever a domain
// layer adds with defineHostKernel (the galaxy normalisation, in src/galaxy/layers).
// As tensor ops they are ~90 tiny kernels per training step (matrix products, reshapes, masks,
// element-wise work on a [batch, 37…1024] tail); on native TensorFlow each costs a fixed ~20–200 µs,
// 7–9 % of a small CNN's step, while reading those values and computing them here takes
// microseconds. Not for GPUs: a read would stall the device mid-step, so the layers keep their
// tensor ops there (and for feature maps too large to be worth the copy).
import * as tf from '@tensorflow/tfjs';
import { SeededRng } from '../../../base/random.js';
import { isRecordingPass } from '../../traced-pass.js';

export const DROPOUT = 'GzxDropout';
export const CONCAT_POOL = 'GzxConcatPool';
export const CONCAT_POOL_GRAD = 'GzxConcatPoolGrad';

/** Above this many values a feature map stays with tensor ops: copying it costs more than it saves. */
const HOST_KERNEL_MAX_SIZE = 1 << 20;

export function floats(backend: tf.KernelBackend, info: tf.TensorInfo, kernel: string, rank: number): Float32Array {
  if (info.dtype !== 'float32' || info.shape.length !== rank) {
    throw new Error(`${kernel} expects a float32 tensor of rank ${rank}, got ${info.dtype} [${info.shape.join(', ')}]`);
  }
  return backend.readSync(info.dataId) as Float32Array;
}

/** Image b's maximum of each of c channels over its `positions` pixels (NaN if any value is NaN). */
function channelMaxima(values: Float32Array, b: number, positions: number, c: number): Float32Array {
  const max = new Float32Array(c).fill(-Infinity);
  for (let p = 0; p < positions; p++) {
    const base = (b * positions + p) * c;
    for (let k = 0; k < c; k++) if (values[base + k] > max[k] || Number.isNaN(values[base + k])) max[k] = values[base + k];
  }
  return max;
}

/**
 * Dropout's multiplier per value: 0 where dropped, 1/(1 − rate) where kept (u ≥ rate, as
 * tf.dropout decides). One seed from Math.random per call, as tfjs' own dropout draws: the Learner
 * seeds Math.random per step, so resumed runs replay the same masks.
 */
export function dropoutMask(size: number, rate: number): Float32Array {
  const keep = 1 / (1 - rate);
  const rng = new SeededRng(Math.floor(Math.random() * 2 ** 32));
  const mask = new Float32Array(size);
  for (let i = 0; i < size; i++) if (rng.next() >= rate) mask[i] = keep;
  return mask;
}

export type HostKernel = (inputs: tf.NamedTensorInfoMap, backend: tf.KernelBackend, attrs: tf.NamedAttrMap) => tf.Tensor | tf.Tensor[];

const KERNELS: Record<string, HostKernel> = {
  // Outputs y and the mask it was multiplied by, which the gradient reuses.
  [DROPOUT]: ({ x }, backend, { rate }) => {
    const values = backend.readSync(x!.dataId) as Float32Array;
    const mask = dropoutMask(values.length, rate as number);
    const y = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) y[i] = values[i] * mask[i];
    return [tf.tensor(y, x!.shape), tf.tensor(mask, x!.shape)];
  },
  // [batch, h, w, c] → [batch, 2c]: the maximum over h·w, then the mean (fastai's order).
  [CONCAT_POOL]: ({ x }, backend) => {
    const values = floats(backend, x!, CONCAT_POOL, 4);
    const [n, h, w, c] = x!.shape;
    const out = new Float32Array(n * 2 * c);
    for (let b = 0; b < n; b++) {
      out.set(channelMaxima(values, b, h * w, c), b * 2 * c);
      const sum = new Float64Array(c);
      for (let p = 0; p < h * w; p++) {
        const base = (b * h * w + p) * c;
        for (let k = 0; k < c; k++) sum[k] += values[base + k];
      }
      for (let k = 0; k < c; k++) out[b * 2 * c + c + k] = sum[k] / (h * w);
    }
    return tf.tensor(out, [n, 2 * c]);
  },
  // Every position equal to its channel's maximum gets that output's gradient (tfjs' rule for max),
  // every position 1/(h·w) of the mean's.
  [CONCAT_POOL_GRAD]: ({ dy, x }, backend) => {
    const values = floats(backend, x!, CONCAT_POOL_GRAD, 4);
    const grads = floats(backend, dy!, CONCAT_POOL_GRAD, 2);
    const [n, h, w, c] = x!.shape;
    const dx = new Float32Array(values.length);
    for (let b = 0; b < n; b++) {
      const max = channelMaxima(values, b, h * w, c);
      for (let p = 0; p < h * w; p++) {
        const base = (b * h * w + p) * c;
        for (let k = 0; k < c; k++) {
          const fromMean = grads[b * 2 * c + c + k] / (h * w);
          dx[base + k] = values[base + k] === max[k] ? grads[b * 2 * c + k] + fromMean : fromMean;
        }
      }
    }
    return tf.tensor(dx, x!.shape);
  },
};

/** Backends whose host kernels are on: a kernel defined later is registered there at once. */
const active = new Set<string>();

function kernelConfig(kernelName: string, run: HostKernel, backendName: string): tf.KernelConfig {
  return {
    kernelName,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => run(inputs, backend as tf.KernelBackend, attrs ?? {}) as unknown as tf.TensorInfo,
  };
}

/** Adds a domain layer's host kernel; backends that register host kernels include it. */
export function defineHostKernel(name: string, run: HostKernel): void {
  KERNELS[name] = run;
  for (const backend of active) if (tf.getKernel(name, backend) === undefined) tf.registerKernel(kernelConfig(name, run, backend));
}

/** The host kernels for one backend, as they are defined now. */
export function hostKernels(backendName: string): tf.KernelConfig[] {
  return Object.entries(KERNELS).map(([kernelName, run]) => kernelConfig(kernelName, run, backendName));
}

/** A backend says whether it runs host kernels (kernels defined later follow). */
export function setHostKernelsActive(backendName: string, on: boolean): void {
  if (on) active.add(backendName);
  else active.delete(backendName);
}

/**
 * Whether a layer should run host kernel `name` on `x`: the current backend has it and `x` is small
 * enough to be worth the copy. Layers use their tensor ops if not.
 */
export function useHostKernel(name: string, x: tf.Tensor): boolean {
  // A recorded pass becomes a graph, which cannot call back into JavaScript.
  return !isRecordingPass() && x.size <= HOST_KERNEL_MAX_SIZE && tf.getKernel(name, tf.getBackend()) !== undefined;
}

export function dropoutKernel(x: tf.Tensor, rate: number): tf.Tensor {
  return (tf.engine().runKernel(DROPOUT, { x }, { rate }) as tf.Tensor[])[0];
}

export function concatPoolKernel(x: tf.Tensor4D): tf.Tensor2D {
  return tf.engine().runKernel(CONCAT_POOL, { x }, {}) as tf.Tensor2D;
}

export const firstOf = (dy: tf.Tensor | tf.Tensor[]) => (Array.isArray(dy) ? dy[0] : dy);

tf.registerGradient({
  kernelName: DROPOUT,
  outputsToSave: [false, true],
  gradFunc: (dy, [mask]) => ({ x: () => tf.mul(firstOf(dy), mask) }),
});

tf.registerGradient({
  kernelName: CONCAT_POOL,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.engine().runKernel(CONCAT_POOL_GRAD, { dy: firstOf(dy), x }, {}) as tf.Tensor }),
});
