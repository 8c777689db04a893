// tfjs-layers' Dropout that trains through gzx's dropout kernel where the backend has one
// (src/runtime/kernels/host/op.ts): one kernel and one multiplication instead of tf.dropout's random
// tensor, add, floor, divide and multiply, each a fixed cost on native TensorFlow. Same class name
// and config, so saved models load into the stock layer.
import * as tf from '@tensorflow/tfjs';
import type { Dropout as StockDropout, DropoutLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/core.js';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { DROPOUT, dropoutKernel, dropoutMask, useHostKernel } from '../../runtime/kernels/host/op.js';
import { isRecordingPass, perStepInput } from '../../runtime/traced-pass.js';

// tfjs does not export its layer classes, only factories; the class is the factory's product's.
const Stock = tf.layers.dropout({ rate: 0 }).constructor as new (args: DropoutLayerArgs) => StockDropout;

export class Dropout extends Stock {
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const own = this as unknown as { rate: number; noiseShape?: number[]; seed?: number };
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    // A fixed seed or a noise shape keep tfjs' own dropout, which honours them.
    const ours = kwargs['training'] === true && own.rate > 0 && own.rate < 1 && own.noiseShape == null && own.seed == null && x.dtype === 'float32';
    if (!ours) return super.call(inputs, kwargs);
    if (isRecordingPass()) {
      // A pass recorded for a graph: the kernel's mask, made by JavaScript each step and fed in
      // (tfjs' dropout would bake the recorded step's noise into the graph).
      this.invokeCallHook(inputs, kwargs);
      const mask = perStepInput(() => tf.tensor(dropoutMask(x.size, own.rate), x.shape, 'float32'));
      return tf.mul(x, mask);
    }
    if (!useHostKernel(DROPOUT, x)) return super.call(inputs, kwargs);
    this.invokeCallHook(inputs, kwargs);
    return tf.tidy(() => dropoutKernel(x, own.rate)); // frees the mask output unless the tape keeps it
  }
}

/** Drop-in for tf.layers.dropout. */
export function dropout(args: DropoutLayerArgs): Dropout {
  return new Dropout(args);
}
