// The two depthwise-conv gradient kernels wasm lacks (DepthwiseConv2dNativeBackpropInput/Filter), so
// MobileNet/EfficientNet-style backbones from plugins can train on wasm. Built from ops wasm runs well.
import * as tf from '@tensorflow/tfjs';
import { convGeometry, opsKernel, padOrCrop4d, subsample, zeroInsert, type ConvAttrs } from '../../wasm/tensor-info.js';

interface Attrs extends ConvAttrs {
  dilations?: number | [number, number];
}

function geometry(xShape: [number, number, number, number], filterShape: [number, number, number, number], attrs: Attrs) {
  // Same spatial geometry as a regular conv with Ci → Ci·m output channels.
  const [fh, fw, c, m] = filterShape;
  return convGeometry(xShape, [fh, fw, c, c * m], attrs.strides, attrs.pad, attrs.dimRoundingMode);
}

/** dW[i,j,c,k] = Σ xPadded[n, oh·s+i, ow·s+j, c] · dy[n,oh,ow,c·m+k]: one multiply-and-sum per tap. */
export function depthwiseBackpropFilterOps(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: Attrs,
): tf.Tensor4D {
  const info = geometry(x.shape, filterShape, attrs);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const [n, h, w, c] = x.shape;
  const m = filterShape[3];
  return tf.tidy(() => {
    const xp = padOrCrop4d(
      x,
      info.padInfo.top,
      (ho - 1) * sh + fh - h - info.padInfo.top,
      info.padInfo.left,
      (wo - 1) * sw + fw - w - info.padInfo.left,
    );
    const dy5 = tf.reshape(dy, [n, ho, wo, c, m]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        const window = tf.reshape(subsample(xp, i, j, sh, sw, ho, wo), [n, ho, wo, c, 1]);
        taps.push(tf.sum(tf.mul(window, dy5), [0, 1, 2])); // [c, m]
      }
    }
    return tf.reshape(tf.stack(taps), [fh, fw, c, m]);
  });
}

/** dx = Σ_k depthwise conv of the zero-inserted dy (multiplier k) with the filter turned 180°. */
export function depthwiseBackpropInputOps(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  attrs: Attrs,
): tf.Tensor4D {
  const info = geometry(inputShape, filter.shape, attrs);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const { top, left } = info.padInfo;
  const [n, h, w, c] = inputShape;
  const m = filter.shape[3];
  return tf.tidy(() => {
    const flipped = tf.reverse(filter, [0, 1]) as tf.Tensor4D; // small: [fh,fw,C,m]
    const dy5 = tf.reshape(dy, [n, ho, wo, c, m]);
    let dx: tf.Tensor4D | null = null;
    for (let k = 0; k < m; k++) {
      const dyK = m === 1 ? dy : (tf.reshape(tf.slice(dy5, [0, 0, 0, 0, k], [n, ho, wo, c, 1]), [n, ho, wo, c]) as tf.Tensor4D);
      const fK = m === 1 ? flipped : (tf.slice(flipped, [0, 0, 0, k], [fh, fw, c, 1]) as tf.Tensor4D);
      const spread = padOrCrop4d(zeroInsert(dyK, sh, sw), fh - 1 - top, h + top - ho * sh, fw - 1 - left, w + left - wo * sw);
      const part = tf.depthwiseConv2d(spread, fK, 1, 'valid');
      dx = dx ? (tf.add(dx, part) as tf.Tensor4D) : part;
    }
    return dx!;
  });
}

export const depthwiseBackpropFilterConfig = opsKernel<Attrs & { filterShape: [number, number, number, number] }>(
  tf.DepthwiseConv2dNativeBackpropFilter,
  ({ x, dy }, attrs) => depthwiseBackpropFilterOps(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape, attrs),
);

export const depthwiseBackpropInputConfig = opsKernel<Attrs & { inputShape: [number, number, number, number] }>(
  tf.DepthwiseConv2dNativeBackpropInput,
  ({ dy, filter }, attrs) => depthwiseBackpropInputOps(dy as tf.Tensor4D, filter as tf.Tensor4D, attrs.inputShape, attrs),
);
