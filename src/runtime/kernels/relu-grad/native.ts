import type * as tf from '@tensorflow/tfjs';
import { RELU_GRAD } from './op.js';
import { type NativeBackend, floatAttrs } from '../../native/native-backend.js';

export const reluGradConfig: tf.KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend }) => {
    const native = backend as unknown as NativeBackend;
    return native.executeSingleOutput('ReluGrad', floatAttrs(native), [inputs.dy!, inputs.x!]);
  },
};
