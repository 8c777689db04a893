// Kernels gzx adds to the wasm backend. Two kinds:
// - correctness: kernels wasm lacks (Conv2DBackpropFilter, the depthwise gradients) or gets wrong
//   (MaxPoolGrad), always on;
// - speed: replacements for stock kernels that run as scalar loops; each falls back to the stock
//   kernel for cases it does not cover and can be switched off (bench/train.ts measures both).
// Registered after the wasm backend initialised, so the stock kernels we wrap have run their setup.
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from '../kernels/conv2d-backprop-filter/wasm.js';
import { maxPoolGradConfig } from '../kernels/max-pool-grad/wasm.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from '../kernels/depthwise-conv2d-grads/wasm.js';
import { conv2dBackpropInputSpeedKernel } from '../kernels/conv2d-backprop-input/wasm.js';
import { tileSpeedKernel } from '../kernels/tile/wasm.js';
import { batchMatMulSpeedKernel } from '../kernels/batch-mat-mul/wasm.js';
import { batchNormTrainingConfig, batchNormTrainingGradConfig } from '../kernels/batch-norm/wasm.js';
import { hostKernels, setHostKernelsActive } from '../kernels/host/op.js';

const CORRECTNESS: tf.KernelConfig[] = [conv2dBackpropFilterConfig, maxPoolGradConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig];

/** Speed kernels: each wraps the stock kernel it falls back to for cases it does not cover. */
const SPEED: { kernelName: string; make: (stock: tf.KernelConfig) => tf.KernelConfig }[] = [
  { kernelName: tf.Conv2DBackpropInput, make: conv2dBackpropInputSpeedKernel },
  { kernelName: tf.Tile, make: tileSpeedKernel },
  { kernelName: tf.BatchMatMul, make: batchMatMulSpeedKernel },
];

/** Speed kernels with no stock counterpart: gzx's own ops, which layers use when registered. */
const added = (): tf.KernelConfig[] => [batchNormTrainingConfig, batchNormTrainingGradConfig, ...hostKernels('wasm')];

const stockKernels = new Map<string, tf.KernelConfig | undefined>();
let correctnessRegistered = false;
let speedRegistered = false;

function replace(config: tf.KernelConfig): void {
  const existing = tf.getKernel(config.kernelName, 'wasm');
  if (!stockKernels.has(config.kernelName)) stockKernels.set(config.kernelName, existing);
  if (existing) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
}

function stock(name: string): tf.KernelConfig {
  const config = stockKernels.has(name) ? stockKernels.get(name) : tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`wasm backend has no stock ${name} kernel to fall back to`);
  return config;
}

/** Registers gzx's wasm kernels (idempotent). `speedups: false` keeps the stock fast-path-less kernels. */
export function registerWasmKernels(options: { speedups?: boolean } = {}): void {
  const speedups = options.speedups ?? true;
  if (!correctnessRegistered) {
    for (const config of CORRECTNESS) replace(config);
    correctnessRegistered = true;
  }
  if (speedups && !speedRegistered) {
    for (const { kernelName, make } of SPEED) replace(make(stock(kernelName)));
    for (const config of added()) tf.registerKernel(config);
    setHostKernelsActive('wasm', true);
    speedRegistered = true;
  } else if (!speedups && speedRegistered) {
    restoreStockSpeedKernels();
  }
}

/** Puts the stock kernels back in place of the speed kernels (for before/after measurements). */
function restoreStockSpeedKernels(): void {
  for (const { kernelName: name } of SPEED) {
    tf.unregisterKernel(name, 'wasm');
    const original = stockKernels.get(name);
    if (original) tf.registerKernel(original);
  }
  for (const config of added()) if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
  setHostKernelsActive('wasm', false);
  speedRegistered = false;
}

/** Names of the kernels gzx currently provides for wasm. */
export function gzxWasmKernelNames(): string[] {
  return [
    ...CORRECTNESS.map((c) => c.kernelName),
    ...(speedRegistered ? [...SPEED.map((m) => m.kernelName), ...added().map((c) => c.kernelName)] : []),
  ];
}
