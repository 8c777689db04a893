// Gradient kernels the stock wasm backend lacks or runs as scalar loops. Registered once, after
// the wasm backend initialised (stock kernels we wrap keep their own setup).
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { maxPoolGradConfig } from './max-pool-grad.js';

let registered = false;

/** Kernel names gzx adds to or replaces in the wasm backend. */
export const GZX_WASM_KERNELS: string[] = [];

export function registerWasmKernels(): void {
  if (registered) return;
  const configs: tf.KernelConfig[] = [conv2dBackpropFilterConfig, maxPoolGradConfig];
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
    GZX_WASM_KERNELS.push(config.kernelName);
  }
  registered = true;
}
