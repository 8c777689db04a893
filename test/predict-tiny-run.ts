// A tiny trained-looking run folder for predict/show tests: conv body + galaxy-zoo head, saved with model-io.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createGalaxyZooHead } from '../src/plugins/head/galaxy-zoo.js';
import { saveModel } from '../src/framework/model-io.js';
import { SeededRng } from '../src/base/random.js';

import { SAMPLE_DIR } from './helpers/samples.js';

export { SAMPLE_DIR };

export function tinyModel(normalise = true): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, activation: 'relu', name: 'body_conv1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, activation: 'relu', name: 'body_conv2' }).apply(x) as tf.SymbolicTensor;
  const head = createGalaxyZooHead({ ps: 0.25, hidden: 16, pool: 'concat', normalise });
  const model = tf.model({ inputs: input, outputs: head.build(tf, x) });
  seedKernels(model, 1234);
  return model;
}

/** tfjs initialisers here are unseeded: redraw every kernel (He normal) from a seeded stream so tests repeat exactly. */
function seedKernels(model: tf.LayersModel, seed: number): void {
  const rng = new SeededRng(seed);
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0 || !layer.name.match(/conv|dense/)) continue;
    const [kernel, ...rest] = weights;
    const fanIn = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const std = Math.sqrt(2 / fanIn) * (layer.name === 'head_dense2' && normaliseScale(layer) ? Math.sqrt(0.05) : 1);
    const values = Float32Array.from({ length: kernel.size }, () => rng.normal() * std);
    layer.setWeights([tf.tensor(values, kernel.shape), ...rest]);
  }
}

/** The normalising head starts its last layer small (scale 0.1 ⇒ std √(0.1/fanIn)); keep that shape. */
function normaliseScale(layer: tf.layers.Layer): boolean {
  return (layer.getConfig().biasInitializer as { className?: string } | undefined)?.className === 'Ones';
}

/** runs/<id>-like folder: model/ + config.yaml whose last phase size is `size`. */
export async function makeRunFolder(dir: string, opts: { crop: number | null; size: number; normalise?: boolean }): Promise<tf.LayersModel> {
  await fs.mkdir(dir, { recursive: true });
  const model = tinyModel(opts.normalise ?? true);
  await saveModel(model, path.join(dir, 'model'));
  const crop = opts.crop === null ? 'null' : String(opts.crop);
  await fs.writeFile(
    path.join(dir, 'config.yaml'),
    `name: tiny\ndata:\n  use: synthetic\n  with:\n    crop: ${crop}\ntrain:\n  size: 16\n  phases:\n    - epochs: 1\n      size: 16\n    - epochs: 1\n      size: ${opts.size}\n`,
  );
  return model;
}
