// Inference op by op (model.predict) against the compiled TensorFlow graph (src/runtime/traced-pass.ts)
// in its three forms: as recorded, with convolution + bias + batch norm + ReLU written so TensorFlow
// fuses them (src/runtime/native/fuse-inference.ts), and fused with the weights as constants (what
// predictWith runs once the weights have stayed the same for a few batches). Same model and batch,
// alternating in one process; checks all predict the same to float rounding.
//   npx vite-node bench/infer-graph.ts -- --models r50_112,r18_64,cnn64 [--rounds 8]
import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/runtime/backend.js';
import { CompiledPasses, type PassResult } from '../src/runtime/traced-pass.js';
import { NativePassCompiler, type NativePassOptions } from '../src/runtime/native/pass-graph.js';
import { MODELS, buildModel } from './train.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const ids = (arg('--models') ?? 'r50_112,r18_64,cnn64').split(',');
const rounds = Number(arg('--rounds') ?? 8);
const MODES: Record<string, NativePassOptions | null> = {
  'op by op': null,
  'graph as recorded': { fuseInference: false, freezeAfter: 0 },
  fused: { freezeAfter: 0 },
  'fused, frozen': { freezeAfter: 1 },
};
await selectBackend('tensorflow', () => {});
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
for (const spec of MODELS.filter((m) => ids.includes(m.id))) {
  const model = await buildModel(spec);
  // Batch-norm statistics away from 0/1, so inference-mode batch norm does something.
  for (const w of model.weights) if (/moving_(mean|variance)/.test(w.name)) w.write(tf.randomUniform(w.shape, 0.5, 1.5, 'float32', 3));
  const x = tf.randomUniform([spec.batch, spec.size, spec.size, 3], 0, 1, 'float32', 1);
  const eager = () => model.predict(x) as tf.Tensor;
  const fns = Object.entries(MODES).map(([mode, options]) => {
    if (!options) return [mode, eager] as const;
    const passes = new CompiledPasses(new NativePassCompiler(options), 'tensorflow', (m) => console.error(`  ${m}`));
    return [mode, () => passes.run('infer', [x], () => ({ value: eager() as tf.Scalar, grads: {} }) as PassResult).value as tf.Tensor] as const;
  });
  const ms: Record<string, number[]> = Object.fromEntries(fns.map(([m]) => [m, []]));
  const outs: Record<string, Float32Array> = {};
  // Batches per timing: ~50 ms of work or more, so one timer reading is not noise.
  const reps = Math.max(1, Math.round(25_000 / (spec.batch * spec.size * spec.size) ** 0.75));
  for (let r = -4; r < rounds; r++) {
    // 4 rounds: two recorded, the graph's first run, the frozen graph's build and first run.
    for (const [mode, fn] of fns) {
      const t = performance.now();
      for (let k = 0; k < (r < 0 ? 1 : reps); k++) {
        const y = fn();
        outs[mode] = y.dataSync() as Float32Array;
        y.dispose();
      }
      if (r >= 0) ms[mode].push((performance.now() - t) / reps);
    }
  }
  const worst = (mode: string) => {
    let w = 0;
    outs['op by op'].forEach((v, k) => (w = Math.max(w, Math.abs(v - outs[mode][k]))));
    return w.toExponential(1);
  };
  const base = ms['graph as recorded'];
  console.log(
    `${spec.id} (batch ${spec.batch}, ${reps} batches per timing), ms per batch (median of ${rounds} rounds), speed-up over the graph as recorded (min–max per round), max |Δ| from op by op:\n` +
      fns
        .map(([mode]) => {
          const ratios = base.map((b, k) => b / ms[mode][k]);
          return `  ${mode.padEnd(18)} ${med(ms[mode]).toFixed(2).padStart(8)} ms  ${med(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})  |Δ| ${worst(mode)}`;
        })
        .join('\n'),
  );
  tf.dispose(x);
  model.dispose();
}
