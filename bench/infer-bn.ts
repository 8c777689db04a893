// Inference with TensorFlow's FusedBatchNormV3 (is_training false: one op per batch norm) against
// tfjs-node's FusedBatchNorm kernel (sub, mul, rsqrt, add: several passes over each activation),
// same model and batch, alternating passes in one process; also checks both predict the same.
//   npx vite-node bench/infer-bn.ts -- --models r50_112,r18_64 [--rounds 6]
import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { floatAttrs, type NativeBackend } from '../src/core/native-kernels/native-backend.js';
import { MODELS, buildModel } from './train.js';

let calls = 0;
const fusedInference: tf.KernelConfig = {
  kernelName: tf.FusedBatchNorm,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend, attrs }) => {
    calls++;
    const native = backend as unknown as NativeBackend;
    const { x, mean, variance, scale, offset } = inputs as Record<string, tf.TensorInfo>;
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const c = x.shape[x.shape.length - 1];
    const owned: tf.Tensor[] = [];
    const xs = x.shape.length === 4 ? x : (owned.push(tf.reshape(tf.engine().makeTensorFromTensorInfo(x), [1, 1, -1, c])), owned[owned.length - 1]);
    const sc = scale ?? (owned.push(tf.ones([c])), owned[owned.length - 1]);
    const of = offset ?? (owned.push(tf.zeros([c])), owned[owned.length - 1]);
    const b = native.binding;
    const outs = native.executeMultipleOutputs(
      'FusedBatchNormV3',
      [
        ...floatAttrs(native),
        { name: 'U', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
        { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: varianceEpsilon },
        { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
        { name: 'is_training', type: b.TF_ATTR_BOOL, value: false },
      ],
      [xs, sc, of, mean, variance],
      6,
    );
    let y = outs[0] as tf.Tensor;
    tf.dispose(outs.slice(1) as tf.Tensor[]);
    if (x.shape.length !== 4) {
      const r = tf.reshape(y, x.shape);
      y.dispose();
      y = r;
    }
    tf.dispose(owned);
    return y;
  },
};

const i = process.argv.indexOf('--models');
const ids = i >= 0 ? process.argv[i + 1].split(',') : ['r50_112', 'r18_64', 'cnn64'];
const j = process.argv.indexOf('--rounds');
const rounds = j >= 0 ? Number(process.argv[j + 1]) : 6;
await selectBackend('tensorflow', () => {});
const stock = tf.getKernel(tf.FusedBatchNorm, 'tensorflow')!;
for (const spec of MODELS.filter((m) => ids.includes(m.id))) {
  const model = await buildModel(spec);
  const x = tf.randomUniform([spec.batch, spec.size, spec.size, 3], 0, 1, 'float32', 1);
  const ms: Record<string, number[]> = { stock: [], fused: [] };
  const outs: Record<string, Float32Array> = {};
  for (let r = -1; r < rounds; r++) {
    for (const mode of ['stock', 'fused'] as const) {
      tf.unregisterKernel(tf.FusedBatchNorm, 'tensorflow');
      tf.registerKernel(mode === 'stock' ? stock : fusedInference);
      const t = performance.now();
      const y = model.predict(x) as tf.Tensor;
      outs[mode] = y.dataSync() as Float32Array;
      y.dispose();
      if (r >= 0) ms[mode].push(performance.now() - t);
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  let worst = 0;
  outs.stock.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - outs.fused[k]))));
  console.log(`${spec.id}: stock ${med(ms.stock).toFixed(1)} ms, FusedBatchNormV3 ${med(ms.fused).toFixed(1)} ms per batch (${(med(ms.stock) / med(ms.fused)).toFixed(2)}×), max |Δ| ${worst.toExponential(1)}, fused kernel calls ${calls}`);
  tf.dispose(x);
  model.dispose();
}
