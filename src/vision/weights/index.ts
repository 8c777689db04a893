// Loads pretrained weights into a tfjs model by layer name, from a Keras .h5 file or a
// TensorFlow.js model folder, and reports what matched, what was skipped and what went unused.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../base/errors.js';
import { readKerasH5 } from './keras-h5.js';
import { readTfjsFolder } from './tfjs-folder.js';
import type { LoadReport, StoredWeight, WeightFile } from './types.js';

export type { LoadReport, StoredWeight, WeightFile } from './types.js';
export { readKerasH5 } from './keras-h5.js';
export { readTfjsFolder } from './tfjs-folder.js';

const DOWNLOAD_HINT =
  'Download resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 (see docs/pretrained.md) and set backbone.with.pretrained to its path';

/** Reads a weight source: a folder is a TensorFlow.js model (or a run folder holding one in model/), a file is Keras HDF5. */
export async function readWeightFile(source: string): Promise<WeightFile> {
  const abs = path.resolve(source);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new UserError(`${abs}: pretrained weights not found. ${DOWNLOAD_HINT}, or to a TensorFlow.js model folder.`);
  }
  if (!stat.isDirectory()) return readKerasH5(abs);
  // A run folder (runs/<id>) keeps its final model in model/.
  const inRun = path.join(abs, 'model');
  if (!fs.existsSync(path.join(abs, 'model.json')) && fs.existsSync(path.join(inRun, 'model.json'))) return readTfjsFolder(inRun);
  return readTfjsFolder(abs);
}

/** tfjs variable `conv1_bn/moving_mean` (maybe with a uniquifying `_1`) → `moving_mean`. */
function variableName(v: tf.LayerVariable): string {
  return v.originalName.slice(v.originalName.lastIndexOf('/') + 1);
}

const shapeText = (shapes: number[][]) => shapes.map((s) => `[${s.join(',')}]`).join(' ');

/**
 * Puts the file's variables in the layer's order: by name when every layer variable has a
 * same-named one in the file (Keras 2 and tfjs files name them), otherwise in file order (Keras 3).
 */
function alignToLayer(layer: tf.layers.Layer, stored: StoredWeight[]): StoredWeight[] {
  const byName = new Map(stored.map((w) => [w.name, w]));
  const wanted = layer.weights.map(variableName);
  if (wanted.every((n) => byName.has(n)) && byName.size === wanted.length) return wanted.map((n) => byName.get(n)!);
  return stored;
}

/** Sets every layer of `model` (or of `options.layers`) that has a same-named, same-shaped entry in `file`. */
export function applyWeightFile(model: tf.LayersModel, file: WeightFile, options: { layers?: string[] } = {}): LoadReport {
  const considered = options.layers ? new Set(options.layers) : null;
  const report: LoadReport = { source: file.source, format: file.format, matched: [], skipped: [], unused: [] };
  const seen = new Set<string>();
  for (const layer of model.layers) {
    if (considered && !considered.has(layer.name)) continue;
    seen.add(layer.name);
    if (layer.weights.length === 0) continue;
    const stored = file.layers.get(layer.name);
    if (!stored) {
      report.skipped.push({ layer: layer.name, why: 'missing in file' });
      continue;
    }
    const ordered = alignToLayer(layer, stored);
    const modelShapes = layer.weights.map((w) => w.shape as number[]);
    const fileShapes = ordered.map((w) => w.shape);
    const sameShapes =
      modelShapes.length === fileShapes.length &&
      modelShapes.every((s, i) => s.length === fileShapes[i].length && s.every((d, j) => d === fileShapes[i][j]));
    if (!sameShapes) {
      report.skipped.push({
        layer: layer.name,
        why: `shape mismatch: model ${shapeText(modelShapes)} vs file ${shapeText(fileShapes)}`,
      });
      continue;
    }
    const tensors = ordered.map((w) => tf.tensor(w.values, w.shape, 'float32'));
    layer.setWeights(tensors);
    tf.dispose(tensors);
    report.matched.push(layer.name);
  }
  for (const name of file.layers.keys()) if (!seen.has(name)) report.unused.push(name);
  return report;
}

const LIST_LIMIT = 8;
const listed = (items: string[], limit: number) =>
  items.slice(0, limit).join(', ') + (items.length > limit ? `, … (${items.length - limit} more)` : '');

/** A few lines for the console: counts, then the skipped and unused layers (the first `limit` of each). */
export function formatLoadReport(report: LoadReport, limit = LIST_LIMIT): string[] {
  const lines = [
    `pretrained weights (${report.format}) ${report.source}: ${report.matched.length} layers loaded, ` +
      `${report.skipped.length} skipped, ${report.unused.length} in file unused`,
  ];
  if (report.skipped.length > 0) {
    const shown = report.skipped.slice(0, limit).map((s) => `${s.layer} (${s.why})`);
    const more = report.skipped.length > limit ? `; … (${report.skipped.length - limit} more)` : '';
    lines.push(`  skipped (kept their initial values): ${shown.join('; ')}${more}`);
  }
  if (report.unused.length > 0) lines.push(`  unused (in file, not in model): ${listed(report.unused, limit)}`);
  return lines;
}

/**
 * Loads weights by layer name from a Keras .h5 file or a TensorFlow.js model folder into `model`.
 * Layers absent from the file or with other shapes keep their values and are reported, not fatal:
 * a Galaxy Zoo head or a narrower width legitimately differs from the ImageNet file.
 */
export async function loadWeightsByName(
  model: tf.LayersModel,
  source: string,
  log: (message: string) => void,
  options: { layers?: string[] } = {},
): Promise<LoadReport> {
  const file = await readWeightFile(source);
  const report = applyWeightFile(model, file, options);
  for (const line of formatLoadReport(report)) log(line);
  return report;
}
