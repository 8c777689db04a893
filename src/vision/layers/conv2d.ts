// tfjs-layers' Conv2D whose convolution without activation trains as a plain tf.conv2d (+ bias).
// The stock layer always calls tf.fused.conv2d, whose gradient (one customGrad) computes the input
// and the filter gradients together. The plain op's gradient has one closure per input, so the tape
// skips what no trainable weight needs: the image's gradient at the first convolution, and the
// filter gradient of every convolution of a frozen backbone (whose BatchNorms still train).
// It keeps the stock class name, weights and config, so saved models load into the stock layer.
import * as tf from '@tensorflow/tfjs';
import type { Conv2D as StockConv2D } from '@tensorflow/tfjs-layers/dist/layers/convolutional.js';
import type { ConvLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/convolutional.js';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';

// tfjs does not export its layer classes, only factories; the class is the factory's product's.
const Stock = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: ConvLayerArgs) => StockConv2D;

// The stock layer's fields, private in its typings.
interface StockInternals {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
  strides: [number, number];
  padding: 'valid' | 'same' | 'causal';
  dataFormat: 'channelsFirst' | 'channelsLast';
  dilationRate: [number, number];
}

export class Conv2D extends Stock {
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const own = this as unknown as StockInternals;
    // Outside training no gradient is taken, and the fused op adds the bias in the same pass.
    const plain =
      kwargs['training'] === true &&
      own.activation.getClassName() === 'linear' &&
      own.dataFormat === 'channelsLast' &&
      own.padding !== 'causal' &&
      own.dilationRate.every((d) => d === 1);
    if (!plain) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const y = tf.conv2d(x, own.kernel.read() as tf.Tensor4D, own.strides, own.padding as 'valid' | 'same', 'NHWC');
      return own.bias ? tf.add(y, own.bias.read()) : y;
    });
  }
}

/** Drop-in for tf.layers.conv2d. */
export function conv2d(args: ConvLayerArgs): Conv2D {
  return new Conv2D(args);
}
