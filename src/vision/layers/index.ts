// Custom tfjs layers. Importing this module registers them, which tf.loadLayersModel needs
// to rebuild a saved model that contains them.
export { ConcatPool } from './concat-pool.js';
export { InputNormalizationLayer } from './input-normalization.js';
export { BatchNormalization, batchNormalization } from './batch-normalization.js';
export { Conv2D, conv2d } from './conv2d.js';
export { Dropout, dropout } from './dropout.js';
