// Where a training step's CPU time goes, per wasm kernel (self time: nested kernels that gzx's
// op-built kernels call are charged to themselves). Used to find the slow stock kernels.
// Run: npx vite-node bench/kernel-profile.ts -- --model r50_64 [--stock] [--backend tensorflow]
import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/runtime/backend.js';
import { registerWasmKernels } from '../src/runtime/wasm/index.js';
import { registerNativeKernels } from '../src/runtime/native/index.js';
import { MODELS, buildModel, trainer } from './train.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const spec = MODELS.find((m) => m.id === (arg('--model') ?? 'r50_64'));
if (!spec) throw new Error(`--model must be one of ${MODELS.map((m) => m.id).join(', ')}`);

const backend = arg('--backend') ?? 'wasm';
await selectBackend(backend as 'wasm', () => {});
if (backend === 'wasm') registerWasmKernels({ speedups: !process.argv.includes('--stock') });
if (backend === 'tensorflow') registerNativeKernels({ speedups: !process.argv.includes('--stock') });

const self = new Map<string, { ms: number; calls: number }>();
const childTime: number[] = [];
// Native kernels run on TensorFlow's own thread pool, so wall time is what a step waits for.
const cpuMs =
  backend === 'wasm'
    ? () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      }
    : () => performance.now();
// Wrap every wasm kernel with a CPU timer (after registration, so gzx's kernels are wrapped too).
for (const kernel of tf.getKernelsForBackend(backend)) {
  const inner = kernel.kernelFunc;
  tf.unregisterKernel(kernel.kernelName, backend);
  tf.registerKernel({
    ...kernel,
    setupFunc: undefined, // already ran when the backend initialised
    kernelFunc: (args) => {
      childTime.push(0);
      const start = cpuMs();
      try {
        return inner(args);
      } finally {
        const total = cpuMs() - start;
        const children = childTime.pop()!;
        if (childTime.length) childTime[childTime.length - 1] += total;
        const entry = self.get(kernel.kernelName) ?? { ms: 0, calls: 0 };
        entry.ms += total - children;
        entry.calls++;
        self.set(kernel.kernelName, entry);
      }
    },
  });
}

const model = await buildModel(spec);
const x = tf.randomUniform([spec.batch, spec.size, spec.size, 3]);
const y = tf.randomUniform([spec.batch, 37]);
const training = trainer(model, x, y, { compile: false }); // per-kernel times need op-by-op steps
const step = training.stepSync;
step(); // warm-up
self.clear();
const start = cpuMs();
step();
const total = cpuMs() - start;
const inKernels = [...self.values()].reduce((s, v) => s + v.ms, 0);
const kernels = `${process.argv.includes('--stock') ? 'stock' : 'gzx'} ${backend} kernels`;
console.log(`${spec.label}, ${kernels}: one step ${total.toFixed(0)} ${backend === 'wasm' ? 'CPU' : 'wall'} ms, ${inKernels.toFixed(0)} in kernels`);
console.log('  self ms  calls  kernel');
for (const [name, v] of [...self.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
  console.log(`${v.ms.toFixed(0).padStart(9)} ${String(v.calls).padStart(6)}  ${name}`);
}
