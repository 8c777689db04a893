// Saving and loading TensorFlow.js layers models to folders. Pure @tensorflow/tfjs has no file://
// handler in Node (only tfjs-node does), so the folder format (model.json + weights.bin) is written here.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../base/errors.js';
import { replaceDirAtomic, type DirWriter } from '../base/safe-write.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** Writes into a temporary sibling folder and renames it into place, so a crash never leaves half a model. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await replaceDirAtomic(dir, (write) => writeModelFiles(model, write));
}

/** model.json + weights.bin through `write` (a folder being built by replaceDirAtomic). */
export async function writeModelFiles(model: tf.LayersModel, write: DirWriter): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData
        ? Buffer.concat((Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData]).map((b) => Buffer.from(b)))
        : Buffer.alloc(0);
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      await write(WEIGHTS_BIN, weightData);
      await write(MODEL_JSON, JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

/** Reads a model folder (model.json + weight shards). A missing folder is the user's mistake. */
export async function readModelArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = path.join(dir, MODEL_JSON);
  let json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  try {
    json = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message;
    throw new UserError(`${jsonPath}: ${why}. Point --model at a run folder (runs/<id>) or a TensorFlow.js model folder containing model.json.`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(await fs.readFile(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  return {
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

export async function loadModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(dir)));
}

/** A run folder holds its model in `model/`; a model folder holds model.json directly. */
export async function resolveModelDir(p: string): Promise<string> {
  try {
    await fs.access(path.join(p, 'model', MODEL_JSON));
    return path.join(p, 'model');
  } catch {
    return p;
  }
}

/**
 * Copies the weights saved in a model folder into an already-built model of the same architecture.
 * Matched by position (auto-numbered layer names differ between builds), checked by shape.
 */
export async function restoreWeights(model: tf.LayersModel, dir: string): Promise<void> {
  const artifacts = await readModelArtifacts(dir);
  const specs = artifacts.weightSpecs!;
  const saved = tf.io.decodeWeights(artifacts.weightData!, specs);
  const weights = model.weights;
  if (weights.length !== specs.length) {
    throw new Error(`${dir}: holds ${specs.length} weights but the model has ${weights.length}; it was made by a different model.`);
  }
  weights.forEach((w, i) => {
    const value = saved[specs[i].name];
    if (value.shape.join('x') !== w.shape.join('x')) {
      throw new Error(`${dir}: weight ${specs[i].name} has shape [${value.shape}] but the model expects [${w.shape}].`);
    }
    w.write(value);
  });
  tf.dispose(Object.values(saved));
}
