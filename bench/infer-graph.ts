// Inference as one compiled TensorFlow graph (the training pass's recorder, src/runtime/traced-pass.ts,
// given model.predict as the "pass") against model.predict op by op: same model and batch,
// alternating batches in one process; checks both predict the same to float rounding.
//   npx vite-node bench/infer-graph.ts -- --models r50_112,r18_64,cnn64 [--rounds 6]
import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/runtime/backend.js';
import { compiledPassesFor, type PassResult } from '../src/runtime/traced-pass.js';
import { MODELS, buildModel } from './train.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const ids = (arg('--models') ?? 'r50_112,r18_64,cnn64').split(',');
const rounds = Number(arg('--rounds') ?? 6);
await selectBackend('tensorflow', () => {});
for (const spec of MODELS.filter((m) => ids.includes(m.id))) {
  const model = await buildModel(spec);
  const x = tf.randomUniform([spec.batch, spec.size, spec.size, 3], 0, 1, 'float32', 1);
  const passes = compiledPassesFor('tensorflow', (m) => console.error(`  ${m}`))!;
  const eager = () => model.predict(x) as tf.Tensor;
  const compiled = () => passes.run('infer', [x], () => ({ value: eager() as tf.Scalar, grads: {} }) as PassResult).value as tf.Tensor;
  const ms: Record<string, number[]> = { eager: [], graph: [] };
  const outs: Record<string, Float32Array> = {};
  for (let r = -3; r < rounds; r++) {
    for (const [mode, fn] of [
      ['eager', eager],
      ['graph', compiled],
    ] as const) {
      const t = performance.now();
      const y = fn();
      outs[mode] = y.dataSync() as Float32Array;
      y.dispose();
      if (r >= 0) ms[mode].push(performance.now() - t); // 3 rounds: two recorded, the graph's first run
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  let worst = 0;
  outs.eager.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - outs.graph[k]))));
  console.log(
    `${spec.id}: op by op ${med(ms.eager).toFixed(1)} ms, graph ${med(ms.graph).toFixed(1)} ms per batch ` +
      `(${(med(ms.eager) / med(ms.graph)).toFixed(2)}×; per round ${ms.eager.map((e, k) => (e / ms.graph[k]).toFixed(2)).join(' ')}), max |Δ| ${worst.toExponential(1)}, tensors ${tf.memory().numTensors}`,
  );
  passes.dispose();
  tf.dispose(x);
  model.dispose();
}
