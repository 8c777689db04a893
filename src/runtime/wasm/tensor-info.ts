// Helpers for kernels written with tfjs ops: a kernel receives bare TensorInfos (no methods),
// and ops need Tensors that the engine tracks, so tidy() can free every intermediate.
import * as tf from '@tensorflow/tfjs';

/**
 * A tracked Tensor view of a kernel input. makeTensorFromTensorInfo does not take a reference on
 * the data, so take one here: disposing the view then leaves the caller's tensor intact.
 */
/** The attributes tfjs gives every convolution and pooling gradient kernel. */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function asTensor<R extends tf.Rank = tf.Rank>(info: tf.TensorInfo, backend: tf.KernelBackend): tf.Tensor<R> {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend) as tf.Tensor<R>;
}

/**
 * A wasm kernel written with tfjs ops. Inputs arrive as tracked Tensors; every intermediate is
 * freed by tidy(); the engine accepts the returned Tensor (or Tensors) as the kernel output as is.
 */
export function opsKernel<Attrs>(
  kernelName: string,
  body: (inputs: Record<string, tf.Tensor>, attrs: Attrs) => tf.Tensor | tf.Tensor[],
): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) =>
      tf.tidy(() => {
        const tensors: Record<string, tf.Tensor> = {};
        for (const [name, info] of Object.entries(inputs)) {
          if (info) tensors[name] = asTensor(info, backend as tf.KernelBackend);
        }
        return body(tensors, attrs as unknown as Attrs);
      }) as unknown as tf.TensorInfo,
  };
}

/** Explicit [top, bottom, left, right] padding of a conv2d as tfjs computes it (NHWC, dilation 1). */
export function convGeometry(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: tf.backend_util.ExplicitPadding | 'valid' | 'same' | number,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
}

/** Crops (negative amount) or zero-pads (positive amount) the two spatial axes of an NHWC tensor. */
export function padOrCrop4d(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number, value = 0): tf.Tensor4D {
  let out = x;
  const cropTop = Math.max(0, -top);
  const cropBottom = Math.max(0, -bottom);
  const cropLeft = Math.max(0, -left);
  const cropRight = Math.max(0, -right);
  if (cropTop || cropBottom || cropLeft || cropRight) {
    const [n, h, w, c] = out.shape;
    out = tf.slice(out, [0, cropTop, cropLeft, 0], [n, h - cropTop - cropBottom, w - cropLeft - cropRight, c]);
  }
  const padTop = Math.max(0, top);
  const padBottom = Math.max(0, bottom);
  const padLeft = Math.max(0, left);
  const padRight = Math.max(0, right);
  if (padTop || padBottom || padLeft || padRight) {
    out = tf.pad(
      out,
      [
        [0, 0],
        [padTop, padBottom],
        [padLeft, padRight],
        [0, 0],
      ],
      value,
    );
  }
  return out;
}

/**
 * Places v [N,Ho,Wo,C] at rows oh·sh and cols ow·sw of a zero tensor [N,Ho·sh,Wo·sw,C]
 * (the "zero insertion" that undoes a strided read), using only reshape and pad.
 */
export function zeroInsert(v: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return v;
  const [n, ho, wo, c] = v.shape;
  const spread = tf.pad(tf.reshape(v, [n, ho, 1, wo, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(spread, [n, ho * sh, wo * sw, c]);
}

/**
 * Rows i, i+sh, … and cols j, j+sw, … of x ([N,ho,wo,C]). wasm's StridedSlice is a scalar loop
 * (~10x slower); a contiguous slice plus a 1×1 max pool with the stride (XNNPACK) picks the same values.
 */
export function subsample(x: tf.Tensor4D, i: number, j: number, sh: number, sw: number, ho: number, wo: number): tf.Tensor4D {
  const [n, , , c] = x.shape;
  const window = tf.slice(x, [0, i, j, 0], [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, c]);
  return sh === 1 && sw === 1 ? window : tf.maxPool(window, 1, [sh, sw], 'valid');
}
