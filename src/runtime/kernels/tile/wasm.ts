// Faster Tile for wasm when it only broadcasts (every tiled axis has size 1), which is how
// broadcastTo and the BatchNorm gradient use it. The stock kernel copies element by element
// (~12x slower); adding zeros of the output shape is one broadcasting XNNPACK add.
import * as tf from '@tensorflow/tfjs';
import { opsKernel } from '../../wasm/tensor-info.js';

export function tileSpeedKernel(stock: tf.KernelConfig): tf.KernelConfig {
  const fast = opsKernel<{ reps: number[] }>(tf.Tile, ({ x }, { reps }) =>
    tf.add(
      x,
      tf.zeros(
        x.shape.map((d, i) => d * reps[i]),
        x.dtype,
      ),
    ),
  );
  return {
    ...fast,
    kernelFunc: (args) => {
      const x = (args.inputs as { x: tf.TensorInfo }).x;
      const { reps } = args.attrs as unknown as { reps: number[] };
      const broadcastOnly = x.dtype === 'float32' && x.shape.every((d, i) => d === 1 || reps[i] === 1);
      return broadcastOnly ? fast.kernelFunc(args) : stock.kernelFunc(args);
    },
  };
}
