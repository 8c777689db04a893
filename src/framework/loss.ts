// The default training loss: mean squared error, over known cells only when some are unknown.
// A head owns its loss (Head.loss, Lightning's way); heads without one train with this.
import type * as tfType from '@tensorflow/tfjs';
import type { LossFn } from './contracts.js';

/**
 * `weights` null: the plain mean of (pred − y)² over every cell. Otherwise Σ weights·(pred − y)²,
 * where the Learner's weights are 1/known on known cells and 0 on unknown ones (a masked mean).
 */
export const meanSquaredError: LossFn = (tf, y, pred, weights) =>
  weights ? (tf.sum(tf.mul(weights, tf.squaredDifference(pred, y))) as tfType.Scalar) : (tf.losses.meanSquaredError(y, pred) as tfType.Scalar);
