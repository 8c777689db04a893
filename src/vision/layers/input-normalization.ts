// Maps [0,1] RGB pixels to what pretrained weights were trained on, as a layer so that a saved
// model (and `gzx predict`) normalises exactly as training did. Used by the resnet backbone;
// it lives here because loading a saved model must register it without importing any plugin.
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology.js';

export type InputNormalization = 'imagenet-caffe' | 'imagenet' | 'none';

export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68];
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface InputNormalizationArgs extends LayerArgs {
  mode: InputNormalization;
}

export class InputNormalizationLayer extends tf.layers.Layer {
  static className = 'GzxInputNormalization';
  readonly mode: InputNormalization;

  constructor(args: InputNormalizationArgs) {
    const { mode, ...layerArgs } = args;
    super({ ...layerArgs, trainable: false });
    this.mode = mode;
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => {
      switch (this.mode) {
        case 'none':
          return x.clone();
        case 'imagenet':
          return x.sub(tf.tensor1d(IMAGENET_MEAN)).div(tf.tensor1d(IMAGENET_STD));
        case 'imagenet-caffe':
          // Keras `preprocess_input(mode='caffe')`: 0–255, RGB → BGR, subtract the BGR mean.
          return tf.reverse(x.mul(255), -1).sub(tf.tensor1d(CAFFE_BGR_MEAN));
      }
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode };
  }
}

tf.serialization.registerClass(InputNormalizationLayer);
