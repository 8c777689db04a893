// Conv2DBackpropFilter for the wasm backend, which has none (so tfjs cannot train a conv net on it).
// Built from kernels wasm runs fast (XNNPACK conv2d and matMul) instead of a scalar loop.
import * as tf from '@tensorflow/tfjs';
import { opsKernel, convGeometry, padOrCrop4d, subsample, type ConvAttrs } from '../../wasm/tensor-info.js';

interface Attrs extends ConvAttrs {
  dataFormat: 'NHWC' | 'NCHW';
  filterShape: [number, number, number, number];
}

/**
 * dW[i,j,ci,co] = Σ_{n,oh,ow} xPadded[n, oh·s+i, ow·s+j, ci] · dy[n,oh,ow,co].
 * 1×1: one matMul over all pixels. Otherwise: treat input channels as the batch and the batch as
 * channels, so dW is a plain conv2d of xᵀ [Ci,H,W,N] with dyᵀ [Ho,Wo,N,Co] as the filter, dilated by
 * the forward stride.
 */
export function conv2dBackpropFilterOps(x4: tf.Tensor4D, dy4: tf.Tensor4D, attrs: Attrs): tf.Tensor4D {
  if (attrs.dataFormat === 'NCHW') throw new Error('gzx wasm Conv2DBackpropFilter supports NHWC only');
  const info = convGeometry(x4.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const { top, left } = info.padInfo;
  const [n, h, w, ci] = x4.shape;
  const co = dy4.shape[3];
  // Rows/cols of the padded input the forward conv actually read.
  const needH = (ho - 1) * sh + fh;
  const needW = (wo - 1) * sw + fw;
  return tf.tidy(() => {
    const xp = padOrCrop4d(x4, top, needH - h - top, left, needW - w - left);
    if (fh === 1 && fw === 1) {
      const xs = subsample(xp, 0, 0, sh, sw, ho, wo);
      const xT = tf.transpose(tf.reshape(xs, [n * ho * wo, ci]));
      const dW = tf.matMul(xT, tf.reshape(dy4, [n * ho * wo, co]));
      return tf.reshape(dW, [1, 1, ci, co]);
    }
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [Ci, needH, needW, N]
    const dyT = tf.transpose(dy4, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, N, Co]
    const r = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]); // [Ci, fh, fw, Co]
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

export const conv2dBackpropFilterConfig = opsKernel<Attrs>(tf.Conv2DBackpropFilter, ({ x, dy }, attrs) =>
  conv2dBackpropFilterOps(x as tf.Tensor4D, dy as tf.Tensor4D, attrs),
);
