// tfjs-layers' BatchNormalization whose training step goes through one fused kernel where the
// backend has one (src/runtime/kernels/batch-norm/op.ts); everything else is the stock layer's.
// It keeps the stock class name, weights and config, so saved models and Keras weight files see an
// ordinary BatchNormalization and load into the stock layer.
import * as tf from '@tensorflow/tfjs';
import type {
  BatchNormalization as StockBatchNormalization,
  BatchNormalizationLayerArgs,
} from '@tensorflow/tfjs-layers/dist/layers/normalization.js';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { batchNormTraining, hasBatchNormTraining } from '../../runtime/kernels/batch-norm/op.js';

// tfjs does not export its layer classes, only factories; the class is the factory's product's.
const Stock = tf.layers.batchNormalization({}).constructor as new (args?: BatchNormalizationLayerArgs) => StockBatchNormalization;

// The stock layer's fields, private in its typings.
interface StockInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

export class BatchNormalization extends Stock {
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const own = this as unknown as StockInternals;
    const axis = own.axis < 0 ? own.axis + x.rank : own.axis;
    // Features [N, C] (the head's) run as an image [1, 1, N, C]: the same statistics over N.
    const features = x.rank === 2 && axis === 1;
    const fused = kwargs['training'] === true && ((x.rank === 4 && axis === 3) || features) && own.gamma && own.beta && hasBatchNormTraining();
    if (!fused) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const image = (features ? tf.reshape(x, [1, 1, ...(x.shape as [number, number])]) : x) as tf.Tensor4D;
      const out = batchNormTraining(
        image,
        own.gamma!.read() as tf.Tensor1D,
        own.beta!.read() as tf.Tensor1D,
        { mean: own.movingMean.read() as tf.Tensor1D, variance: own.movingVariance.read() as tf.Tensor1D },
        { epsilon: own.epsilon, momentum: own.momentum },
      );
      own.movingMean.write(out.movingMean);
      own.movingVariance.write(out.movingVariance);
      return features ? tf.reshape(out.y, x.shape) : out.y;
    });
  }
}

/** Drop-in for tf.layers.batchNormalization. */
export function batchNormalization(args: BatchNormalizationLayerArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}
