// What a training step of ResNet50 needs of the wasm heap, and the passes gzx's memory plan picks
// for a batch (src/runtime/memory-plan.ts), at each size. Measured like the plan measures: peak tensor
// bytes of one forward/backward pass on blank images (tf.profile).
// Run: npx vite-node bench/wasm-memory.ts [--sizes 112,224] [--batch 8] [--stock]
import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/runtime/backend.js';
import { registerWasmKernels } from '../src/runtime/wasm/index.js';
import { HEAP_HEADROOM, WASM_HEAP_BYTES, describePlan, planMicroBatch } from '../src/runtime/memory-plan.js';
import { MODELS, buildModel } from './train.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const sizes = arg('--sizes', '112,224').split(',').map(Number);
const batch = Number(arg('--batch', '8'));
await selectBackend('wasm', () => {});
if (process.argv.includes('--stock')) registerWasmKernels({ speedups: false });

for (const size of sizes) {
  const model = await buildModel({ ...MODELS[3], size });
  const trainable = model.trainableWeights.reduce((s, w) => s + (w.shape as number[]).reduce((a, b) => a * b, 1) * 4, 0);
  const probe = async (n: number) => {
    const info = await tf.profile(() => {
      tf.tidy(() => {
        const x = tf.zeros([n, size, size, 3]);
        const y = tf.zeros([n, 37]);
        tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar).value.dataSync();
      });
    });
    return info.peakBytes;
  };
  const plan = await planMicroBatch(batch, probe, WASM_HEAP_BYTES * HEAP_HEADROOM, 3 * trainable);
  console.log(plan ? describePlan(plan, batch, size, 'training') : `ResNet50 at ${size} px: one image does not fit`);
  model.dispose();
}
