// Reads Keras weights from HDF5 with h5wasm (libhdf5 compiled to wasm, so no Python or native
// addon is needed). Layout (Keras 2 `save_weights('x.h5')`, the ImageNet application files, and
// Keras 2/3 full-model `save('x.h5')` under the group `model_weights`): attribute `layer_names`;
// each layer group has attribute `weight_names` naming its datasets in order.
// Keras 3 `.weights.h5` files key layers by class (`layers/conv2d_3/vars/0`), not by name: refused.
import fs from 'node:fs';
import type * as H5wasm from 'h5wasm/node';
import { UserError } from '../errors.js';
import type { StoredWeight, WeightFile } from './types.js';

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * HDF5 puts its signature at 0, 512, 1024, 2048…; checking first keeps libhdf5's long diagnostic
 * dump off stderr for a file that is not HDF5 at all (h5wasm's own error is only "name not defined").
 */
function looksLikeHdf5(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      fs.readSync(fd, buf, 0, 8, offset);
      if (buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

function stringList(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => String(v));
}

// Loaded on first use: importing h5wasm instantiates libhdf5 (~1 s), which every process that
// merely lists plugins (and every image worker) would otherwise pay.
let h5wasm: typeof H5wasm;
async function loadH5wasm(): Promise<void> {
  h5wasm ??= await import('h5wasm/node');
  await h5wasm.ready;
}

function isGroup(e: unknown): e is H5wasm.Group {
  return e instanceof h5wasm.Group;
}

function isDataset(e: unknown): e is H5wasm.Dataset {
  return e instanceof h5wasm.Dataset;
}

function readDataset(ds: H5wasm.Dataset, file: string): { shape: number[]; values: Float32Array } {
  const value = ds.value;
  const shape = ds.shape ?? [];
  let values: Float32Array;
  if (value instanceof Float32Array) values = value;
  else if (value instanceof Float64Array) values = Float32Array.from(value);
  else {
    throw new UserError(
      `${file}: weight ${ds.path} has type ${String(ds.dtype)}, which gzx cannot load (only float32/float64). ` +
        `Re-save the weights as float32.`,
    );
  }
  return { shape, values };
}

/** `conv1_conv/kernel:0` → `kernel`. */
function shortName(weightName: string): string {
  const last = weightName.slice(weightName.lastIndexOf('/') + 1);
  return last.replace(/:\d+$/, '');
}

function readLayers(root: H5wasm.Group, file: string): Map<string, StoredWeight[]> {
  const layers = new Map<string, StoredWeight[]>();
  for (const layer of stringList(root.attrs['layer_names']?.json_value)) {
    const group = root.get(layer);
    if (!isGroup(group)) continue;
    const weights: StoredWeight[] = [];
    for (const weightName of stringList(group.attrs['weight_names']?.json_value)) {
      const ds = group.get(weightName);
      if (!isDataset(ds)) {
        throw new UserError(
          `${file}: layer ${layer} lists weight ${weightName} but the file has no such dataset. The file is damaged; download it again.`,
        );
      }
      weights.push({ name: shortName(weightName), ...readDataset(ds, file) });
    }
    if (weights.length > 0) layers.set(layer, weights);
  }
  return layers;
}

export async function readKerasH5(file: string): Promise<WeightFile> {
  if (!looksLikeHdf5(file)) {
    throw new UserError(
      `${file}: not an HDF5 file. Download resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 again ` +
        `(see docs/pretrained.md) and set backbone.with.pretrained to it.`,
    );
  }
  await loadH5wasm();
  let h5: H5wasm.File;
  try {
    h5 = new h5wasm.File(file, 'r');
  } catch (e) {
    throw new UserError(
      `${file}: HDF5 file cannot be opened (${String((e as Error)?.message ?? e)}). It is probably truncated; download it again.`,
    );
  }
  try {
    const modelWeights = h5.get('model_weights');
    if (h5.attrs['layer_names']) return { source: file, format: 'Keras .h5', layers: readLayers(h5, file) };
    if (isGroup(modelWeights) && modelWeights.attrs['layer_names']) {
      return { source: file, format: 'Keras full-model .h5', layers: readLayers(modelWeights, file) };
    }
    if (isGroup(h5.get('layers')) && isGroup(h5.get('vars'))) {
      throw new UserError(
        `${file}: this is a Keras 3 .weights.h5 file, which names layers by class (conv2d, conv2d_1…) instead of ` +
          `by layer name, so it cannot be loaded by name. Save in the HDF5 format that keeps names: ` +
          `model.save('model.h5') in Keras 3, or model.save_weights('weights.h5') in Keras 2 / tf.keras.`,
      );
    }
    throw new UserError(
      `${file}: HDF5 file holds no Keras weights (no layer_names attribute). ` +
        `Use a file written by Keras save_weights()/save() in .h5 format, e.g. resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5.`,
    );
  } finally {
    h5.close();
  }
}
