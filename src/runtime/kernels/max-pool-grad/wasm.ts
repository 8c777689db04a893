// MaxPoolGrad for the wasm backend: the stock kernel (4.22) drops gradients when channels > 1
// (test/unit/runtime/wasm-kernels.test.ts shows it against cpu), which silently corrupts training of every
// net with a max pool. Rebuilt from ops, routing each output's gradient to the first maximum of
// its window in row-major order, as the cpu backend does.
import * as tf from '@tensorflow/tfjs';
import { opsKernel, padOrCrop4d, subsample, zeroInsert, type ConvAttrs } from '../../wasm/tensor-info.js';

interface Attrs extends ConvAttrs {
  filterSize: number | [number, number];
}

export function maxPoolGradOps(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, attrs: Attrs): tf.Tensor4D {
  const info = tf.backend_util.computePool2DInfo(x.shape, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const { top, left } = info.padInfo;
  const [, h, w] = x.shape;
  const needH = (ho - 1) * sh + fh;
  const needW = (wo - 1) * sw + fw;
  return tf.tidy(() => {
    const xp = padOrCrop4d(x, top, needH - h - top, left, needW - w - left, -Infinity);
    let taken: tf.Tensor | null = null;
    let dxp: tf.Tensor4D | null = null;
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        const window = subsample(xp, i, j, sh, sw, ho, wo);
        let isMax = tf.equal(window, y);
        if (taken) isMax = tf.logicalAnd(isMax, tf.logicalNot(taken));
        taken = taken ? tf.logicalOr(taken, isMax) : isMax;
        const g = tf.mul(dy, tf.cast(isMax, 'float32')) as tf.Tensor4D;
        const placed = padOrCrop4d(zeroInsert(g, sh, sw), i, needH - ho * sh - i, j, needW - wo * sw - j);
        dxp = dxp ? (tf.add(dxp, placed) as tf.Tensor4D) : placed;
      }
    }
    return padOrCrop4d(dxp!, -top, h + top - needH, -left, w + left - needW);
  });
}

export const maxPoolGradConfig = opsKernel<Attrs>(tf.MaxPoolGrad, ({ dy, input, output }, attrs) =>
  maxPoolGradOps(dy as tf.Tensor4D, input as tf.Tensor4D, output as tf.Tensor4D, attrs),
);
