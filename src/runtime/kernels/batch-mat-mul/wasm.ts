// Faster BatchMatMul for wasm with transposed operands (dense layer gradients). The stock kernel
// only reaches XNNPACK without transposes and is ~10x slower with them; transposing explicitly
// (XNNPACK transpose) and multiplying plainly gives the same numbers.
import * as tf from '@tensorflow/tfjs';
import { opsKernel } from '../../wasm/tensor-info.js';

interface Attrs {
  transposeA: boolean;
  transposeB: boolean;
}

function swapLastTwo(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.transpose(t, perm);
}

export function batchMatMulSpeedKernel(stock: tf.KernelConfig): tf.KernelConfig {
  const fast = opsKernel<Attrs>(tf.BatchMatMul, ({ a, b }, { transposeA, transposeB }) =>
    tf.matMul(transposeA ? swapLastTwo(a) : a, transposeB ? swapLastTwo(b) : b),
  );
  return {
    ...fast,
    kernelFunc: (args) => {
      const { transposeA, transposeB } = args.attrs as unknown as Attrs;
      return transposeA || transposeB ? fast.kernelFunc(args) : stock.kernelFunc(args);
    },
  };
}
