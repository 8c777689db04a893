// Kernels gzx adds to the tensorflow backend (tfjs-node, tfjs-node-gpu): TensorFlow ops that do in
// one call what tfjs composes from many (batch norm, ReLU's gradient, the optimiser updates), and on
// CPU the head's small ops worked out in JavaScript. All speed, no correctness: without them the
// backend trains the same model, slower (bench/train.ts measures both).
import * as tf from '@tensorflow/tfjs';
import { batchNormTrainingConfig, batchNormTrainingGradConfig } from '../kernels/batch-norm/native.js';
import { reluGradConfig } from '../kernels/relu-grad/native.js';
import { installReluGradient } from '../kernels/relu-grad/op.js';
import { registerUpdateEngine } from '../update-engine.js';
import { NativeUpdates } from '../kernels/optimizer-updates/native.js';
import type { NativeBackend } from './native-backend.js';
import { hostKernels, setHostKernelsActive } from '../kernels/host/op.js';
import { registerPassCompiler } from '../traced-pass.js';
import { NativePassCompiler } from './pass-graph.js';

const KERNELS: tf.KernelConfig[] = [batchNormTrainingConfig, batchNormTrainingGradConfig, reluGradConfig];
/** Host kernels read tensors into JavaScript: on a GPU that would stall the device mid-step. */
const allKernels = () => [...KERNELS, ...hostKernels('tensorflow')];

/** Registers (speedups on, the default) or removes gzx's tensorflow kernels; idempotent. */
export function registerNativeKernels(options: { speedups?: boolean } = {}): void {
  const speedups = options.speedups ?? true;
  const onGpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  const useHost = speedups && !onGpu;
  for (const config of allKernels()) {
    const registered = tf.getKernel(config.kernelName, 'tensorflow') !== undefined;
    const wanted = KERNELS.includes(config) ? speedups : useHost;
    if (wanted && !registered) tf.registerKernel(config);
    if (!wanted && registered) tf.unregisterKernel(config.kernelName, 'tensorflow');
  }
  setHostKernelsActive('tensorflow', useHost);
  if (speedups) installReluGradient();
  registerUpdateEngine('tensorflow', speedups ? () => new NativeUpdates(tf.backend() as unknown as NativeBackend) : null);
  // Graphs only where tested: on a GPU the session's placement and feeds are unmeasured here.
  registerPassCompiler('tensorflow', speedups && !onGpu ? () => new NativePassCompiler() : null);
}

/** Names of the kernels gzx currently provides for tensorflow. */
export function gzxNativeKernelNames(): string[] {
  return allKernels()
    .filter((c) => tf.getKernel(c.kernelName, 'tensorflow') !== undefined)
    .map((c) => c.kernelName);
}
