// gzx's Optimizer (dist/framework/optimizers.js) on a weight that starts training after `before`
// steps of another weight (a backbone weight unfrozen after a frozen phase), fed the same gradients
// as fastai's Adam (recipe-adam-check.py). Backend: argv[4] (tensorflow = the native update engine a
// run uses, as `gzx run` selects it; cpu = tfjs ops). Prints the weight after each update as JSON.
import * as tf from '@tensorflow/tfjs';
import { Optimizer } from '../../dist/framework/optimizers.js';
import { selectBackend } from '../../dist/runtime/backend.js';

const [before = 25, after = 8] = process.argv.slice(2, 4).map(Number);
const backend = process.argv[4] ?? 'tensorflow';
await selectBackend(backend, () => {});
if (tf.getBackend() !== backend) throw new Error(`backend ${tf.getBackend()}, wanted ${backend}`);
const opt = new Optimizer({ name: 'adamw', wd: 1e-4, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: true });
const head = tf.variable(tf.scalar(1), true, 'head');
const body = tf.variable(tf.scalar(1), true, 'body');
const vars = new Map([
  ['head', head],
  ['body', body],
]);
const grad = (i) => 0.01 * (1 + 0.5 * Math.sin(i)); // any fixed sequence; the .py uses the same
const out = [];
for (let i = 0; i < before + after; i++) {
  const grads = { head: tf.scalar(grad(i)) };
  if (i >= before) grads.body = tf.scalar(grad(i)); // unfrozen from step `before` on
  opt.apply(grads, vars, () => 1e-3, 0.9);
  if (i >= before) out.push(body.dataSync()[0]);
}
console.log(JSON.stringify({ engine: 'gzx', backend: tf.getBackend(), before, after, body: out }));
