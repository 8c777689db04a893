// Reads a TensorFlow.js layers-model folder (model.json + shards). Pure @tensorflow/tfjs has no
// file:// handler in Node, so the shards are read here and decoded with tf.io.decodeWeights.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../base/errors.js';
import type { StoredWeight, WeightFile } from './types.js';

interface ModelJson {
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

export async function readTfjsFolder(dir: string): Promise<WeightFile> {
  const jsonPath = path.join(dir, 'model.json');
  let json: ModelJson;
  try {
    json = JSON.parse(await fs.readFile(jsonPath, 'utf8')) as ModelJson;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `unreadable (${(e as Error).message})`;
    throw new UserError(
      `${jsonPath}: ${why}. A pretrained folder must be a TensorFlow.js layers model (model.json + weight files), ` +
        `e.g. runs/<id>/model; otherwise point backbone.with.pretrained at a Keras .h5 weights file.`,
    );
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw new UserError(
      `${jsonPath}: has no weightsManifest, so it is not a TensorFlow.js layers model with weights. Point backbone.with.pretrained at a model folder saved by gzx or tfjs.`,
    );
  }
  const layers = new Map<string, StoredWeight[]>();
  for (const group of json.weightsManifest) {
    const shards: Buffer[] = [];
    for (const p of group.paths) {
      const shardPath = path.join(dir, p);
      try {
        shards.push(await fs.readFile(shardPath));
      } catch {
        throw new UserError(`${shardPath}: weight file listed in ${jsonPath} is missing. Copy the whole model folder.`);
      }
    }
    const all = Buffer.concat(shards);
    let tensors: tf.NamedTensorMap;
    try {
      tensors = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), group.weights);
    } catch (e) {
      throw new UserError(`${dir}: weight files do not match model.json (${(e as Error).message}). Copy the model folder again.`);
    }
    for (const spec of group.weights) {
      const t = tensors[spec.name];
      // tfjs names variables `<layer>/<variable>` (nested models add more prefixes; the layer is the part before the last `/`).
      const cut = spec.name.lastIndexOf('/');
      const layer = cut < 0 ? spec.name : spec.name.slice(0, cut);
      const name = cut < 0 ? spec.name : spec.name.slice(cut + 1);
      const list = layers.get(layer) ?? [];
      list.push({ name, shape: [...t.shape], values: Float32Array.from(t.dataSync() as ArrayLike<number>) });
      layers.set(layer, list);
      t.dispose();
    }
  }
  return { source: dir, format: 'TensorFlow.js folder', layers };
}
