// Faster Conv2DBackpropInput for wasm. The stock kernel is a scalar C++ loop, ~8x slower than the
// forward conv (XNNPACK); this one is a forward conv of dy with the flipped, transposed filter.
import * as tf from '@tensorflow/tfjs';
import { convGeometry, opsKernel, padOrCrop4d, zeroInsert, type ConvAttrs } from '../../wasm/tensor-info.js';

interface Attrs extends ConvAttrs {
  dataFormat: 'NHWC' | 'NCHW';
  inputShape: [number, number, number, number];
}

/**
 * [fh,fw,Ci,Co] → [fh,fw,Co,Ci] turned 180° in space. A plain loop over the (small) filter in JS:
 * wasm's Reverse kernel is a scalar loop ~5x slower than this, and slicing taps apart is slower still.
 */
export function flipFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [fh, fw, ci, co] = filter.shape;
  const src = filter.dataSync() as Float32Array;
  const out = new Float32Array(src.length);
  const taps = fh * fw;
  for (let tap = 0; tap < taps; tap++) {
    const from = tap * ci * co;
    const to = (taps - 1 - tap) * ci * co;
    for (let c = 0; c < ci; c++) {
      for (let o = 0; o < co; o++) out[to + o * ci + c] = src[from + c * co + o];
    }
  }
  return tf.tensor4d(out, [fh, fw, co, ci]);
}

/**
 * dx[n,h,w,ci] = Σ dy[n,oh,ow,co]·W[i,j,ci,co] over h + top = oh·s + i.
 * 1×1: a 1×1 conv with Wᵀ, then the result is spread back to every s-th pixel.
 * k×k: dy spread to every s-th pixel (zero insertion), then a stride-1 "full" conv with the filter
 * flipped in space and its channel axes swapped.
 */
export function conv2dBackpropInputOps(dy: tf.Tensor4D, filter: tf.Tensor4D, attrs: Attrs): tf.Tensor4D {
  const info = convGeometry(attrs.inputShape, filter.shape, attrs.strides, attrs.pad, attrs.dimRoundingMode);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const { top, left } = info.padInfo;
  const [, h, w] = attrs.inputShape;
  return tf.tidy(() => {
    const flipped = flipFilter(filter);
    if (fh === 1 && fw === 1) {
      const dxAtOutputs = tf.conv2d(dy, flipped, 1, 'valid');
      return padOrCrop4d(zeroInsert(dxAtOutputs, sh, sw), -top, h + top - ho * sh, -left, w + left - wo * sw);
    }
    const spread = zeroInsert(dy, sh, sw);
    const pads = [fh - 1 - top, h + top - ho * sh, fw - 1 - left, w + left - wo * sw] as const;
    if (pads.every((p) => p >= 0)) {
      // Let the conv pad (no copy of dy).
      return tf.conv2d(spread, flipped, 1, [
        [0, 0],
        [pads[0], pads[1]],
        [pads[2], pads[3]],
        [0, 0],
      ]);
    }
    return tf.conv2d(padOrCrop4d(spread, ...pads), flipped, 1, 'valid');
  });
}

export function conv2dBackpropInputSpeedKernel(stock: tf.KernelConfig): tf.KernelConfig {
  const fast = opsKernel<Attrs>(tf.Conv2DBackpropInput, ({ dy, filter }, attrs) =>
    conv2dBackpropInputOps(dy as tf.Tensor4D, filter as tf.Tensor4D, attrs),
  );
  return {
    ...fast,
    kernelFunc: (args) => {
      const attrs = args.attrs as unknown as Attrs;
      return attrs.dataFormat === 'NCHW' ? stock.kernelFunc(args) : fast.kernelFunc(args);
    },
  };
}
