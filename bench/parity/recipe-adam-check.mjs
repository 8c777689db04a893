// gzx's Optimizer (dist/core/optimizers.js, tfjs cpu backend) on a weight that starts training after
// `before` steps of another weight (a backbone weight unfrozen after a frozen phase), fed the same
// gradients as fastai's Adam (recipe-adam-check.py). Prints the weight after each of its updates as JSON.
import * as tf from '@tensorflow/tfjs';
import { Optimizer } from '../../dist/core/optimizers.js';

const [before = 25, after = 8] = process.argv.slice(2).map(Number);
await tf.setBackend('cpu');
const opt = new Optimizer({ name: 'adamw', wd: 1e-4, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: true });
const head = tf.variable(tf.scalar(1), true, 'head');
const body = tf.variable(tf.scalar(1), true, 'body');
const vars = new Map([['head', head], ['body', body]]);
const grad = (i) => 0.01 * (1 + 0.5 * Math.sin(i)); // any fixed sequence; the .py uses the same
const out = [];
for (let i = 0; i < before + after; i++) {
  const grads = { head: tf.scalar(grad(i)) };
  if (i >= before) grads.body = tf.scalar(grad(i)); // unfrozen from step `before` on
  opt.apply(grads, vars, () => 1e-3, 0.9);
  if (i >= before) out.push(body.dataSync()[0]);
}
console.log(JSON.stringify({ engine: 'gzx', before, after, body: out }));
