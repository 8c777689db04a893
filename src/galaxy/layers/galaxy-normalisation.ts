// The Galaxy Zoo "galaxy output" layer (shared/galaxy-zoo/decision-tree.md): clip at 0, normalise
// each question, multiply by its parent answer in tree order. Built from tree.ts so the layer and
// normaliseAnswers() cannot drift apart.
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology.js';
import { COLUMN_QUESTION, NORMALISE_EPSILON, NUM_COLUMNS, QUESTIONS } from '../tree.js';
import { defineHostKernel, firstOf, floats, useHostKernel } from '../../runtime/kernels/host/op.js';
import { normaliseRows, normaliseRowsGradient } from '../tree.js';

// The normalisation as one host kernel (and its gradient) where the backend runs host kernels:
// reading the [batch, 37] values and normalising them here takes microseconds.
export const GALAXY_NORMALISE = 'GzxGalaxyNormalise';
const GALAXY_NORMALISE_GRAD = 'GzxGalaxyNormaliseGrad';

defineHostKernel(GALAXY_NORMALISE, ({ x }, backend) => {
  const values = floats(backend, x!, GALAXY_NORMALISE, 2);
  if (x!.shape[1] !== NUM_COLUMNS) throw new Error(`${GALAXY_NORMALISE} expects [batch, ${NUM_COLUMNS}], got [${x!.shape.join(', ')}]`);
  const out = new Float32Array(values.length);
  normaliseRows(values, out);
  return tf.tensor(out, x!.shape);
});
defineHostKernel(GALAXY_NORMALISE_GRAD, ({ dy, x }, backend) => {
  const dx = new Float32Array(x!.shape[0] * NUM_COLUMNS);
  normaliseRowsGradient(floats(backend, x!, GALAXY_NORMALISE_GRAD, 2), floats(backend, dy!, GALAXY_NORMALISE_GRAD, 2), dx);
  return tf.tensor(dx, x!.shape);
});
tf.registerGradient({
  kernelName: GALAXY_NORMALISE,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.engine().runKernel(GALAXY_NORMALISE_GRAD, { dy: firstOf(dy), x }, {}) as tf.Tensor }),
});

function galaxyNormaliseKernel(x: tf.Tensor2D): tf.Tensor2D {
  return tf.engine().runKernel(GALAXY_NORMALISE, { x }, {}) as tf.Tensor2D;
}

/**
 * The tree as matrices, so the layer is a few matrix products instead of slices and sums per
 * question (~30 kernels for forward and backward instead of ~420, which cost a small model a fifth
 * of its training step on native TensorFlow).
 * - SAME_QUESTION[i][j] = 1 when columns i and j answer the same question: x · it gives each
 *   column its question's total;
 * - PARENT[p][j] = 1 when column p weights column j's question;
 * - ROOT[j] = 1 for columns of questions with weight 1.
 */
const TREE = (() => {
  const sameQuestion = new Float32Array(NUM_COLUMNS * NUM_COLUMNS);
  const parent = new Float32Array(NUM_COLUMNS * NUM_COLUMNS);
  const root = new Float32Array(NUM_COLUMNS);
  const depthOf: number[] = [];
  for (const [qi, q] of QUESTIONS.entries()) {
    depthOf[qi] = q.parent === null ? 0 : depthOf[COLUMN_QUESTION[q.parent]] + 1;
    for (let i = q.start; i < q.start + q.answers.length; i++) {
      for (let j = q.start; j < q.start + q.answers.length; j++) sameQuestion[i * NUM_COLUMNS + j] = 1;
      if (q.parent === null) root[i] = 1;
      else parent[q.parent * NUM_COLUMNS + i] = 1;
    }
  }
  return { sameQuestion, parent, root, depth: Math.max(...depthOf) };
})();

/**
 * The normalisation on a [batch, 37] tensor; differentiable (except at exact zeros, as ReLU). One
 * kernel where the backend has it (src/runtime/kernels/host/op.ts), else tensor ops.
 */
export function galaxyNormalise(x: tf.Tensor2D): tf.Tensor2D {
  return useHostKernel(GALAXY_NORMALISE, x) ? galaxyNormaliseKernel(x) : galaxyNormaliseOps(x);
}

/** The normalisation as tensor ops (any backend, GPUs included). */
export function galaxyNormaliseOps(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const clipped = tf.relu(x);
    const totals = tf.matMul(clipped, tf.tensor2d(TREE.sameQuestion, [NUM_COLUMNS, NUM_COLUMNS]));
    const normalised = tf.div(clipped, tf.add(totals, NORMALISE_EPSILON));
    const root = tf.tensor2d(TREE.root, [1, NUM_COLUMNS]);
    const parent = tf.tensor2d(TREE.parent, [NUM_COLUMNS, NUM_COLUMNS]);
    // Level by level down the tree: after d rounds every question up to depth d has its weight.
    let out = tf.mul(normalised, root);
    for (let d = 0; d < TREE.depth; d++) out = tf.mul(normalised, tf.add(tf.matMul(out, parent), root));
    return out as tf.Tensor2D;
  });
}

export class GalaxyNormalisation extends tf.layers.Layer {
  static className = 'GzxGalaxyNormalisation';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 2 || shape[1] !== NUM_COLUMNS) {
      throw new Error(`GalaxyNormalisation expects [batch, ${NUM_COLUMNS}] inputs, got [${shape.join(', ')}]`);
    }
    return shape;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
    return galaxyNormalise(x);
  }
}

tf.serialization.registerClass(GalaxyNormalisation);
