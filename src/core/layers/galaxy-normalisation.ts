// The Galaxy Zoo "galaxy output" layer (shared/galaxy-zoo/decision-tree.md): clip at 0, normalise
// each question, multiply by its parent answer in tree order. Built from tree.ts so the layer and
// normaliseAnswers() cannot drift apart.
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology.js';
import { NORMALISE_EPSILON, NUM_COLUMNS, QUESTIONS } from '../../galaxy/tree.js';

/** The normalisation on a [batch, 37] tensor; differentiable (except at exact zeros, as ReLU). */
export function galaxyNormalise(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const clipped = tf.relu(x);
    const pieces: tf.Tensor2D[] = [];
    // Parent columns refer to already-weighted columns; keep each finished column addressable.
    const columnOf = (column: number): tf.Tensor2D => {
      for (let qi = 0; qi < pieces.length; qi++) {
        const q = QUESTIONS[qi];
        if (column >= q.start && column < q.start + q.answers.length) {
          return pieces[qi].slice([0, column - q.start], [-1, 1]);
        }
      }
      throw new Error(`column ${column} is used as a parent before its question is normalised`);
    };
    for (const q of QUESTIONS) {
      const answers = clipped.slice([0, q.start], [-1, q.answers.length]);
      let normalised = tf.div(answers, tf.add(tf.sum(answers, 1, true), NORMALISE_EPSILON)) as tf.Tensor2D;
      if (q.parent !== null) normalised = tf.mul(normalised, columnOf(q.parent));
      pieces.push(normalised);
    }
    return tf.concat(pieces, 1);
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
