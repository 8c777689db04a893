// Reads Keras weights from HDF5 with h5wasm (libhdf5 compiled to wasm, so no Python or native
// addon is needed). Layout (Keras 2 `save_weights('x.h5')`, the ImageNet application files, and
// Keras 2/3 full-model `save('x.h5')` under the group `model_weights`): attribute `layer_names`;
// each layer group has attribute `weight_names` naming its datasets in order.
// Keras 3 `.weights.h5` files key layers by class (`layers/conv2d_3/vars/0`), not by name: refused.
import fs from 'node:fs';
import type * as H5wasm from 'h5wasm/node';
import { UserError } from '../../base/errors.js';
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
      `${file}: weight ${ds.path} has type ${typeof ds.dtype === 'string' ? ds.dtype : JSON.stringify(ds.dtype)}, which gzx cannot load (only float32/float64). ` +
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

/**
 * Runs synchronous h5wasm work while keeping libhdf5's multi-line "HDF5-DIAG" dumps off the
 * user's terminal (NODERAWFS writes them straight to fd 2), and returns the most specific line,
 * e.g. "truncated file: eof = 50000000, … stored_eof = 94780576", for the error message.
 */
function withHdf5Diagnostics<T>(fn: () => T): { value?: T; error?: unknown; reason: string | null } {
  let captured = '';
  const writeSync = fs.writeSync;
  fs.writeSync = function (fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number {
    if (fd !== 2) return (writeSync as (...a: unknown[]) => number).call(fs, fd, data, ...rest);
    if (typeof data === 'string') {
      captured += data;
      return Buffer.byteLength(data);
    }
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    const length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
    captured += Buffer.from(data.buffer, data.byteOffset + offset, length).toString();
    return length;
  } as typeof fs.writeSync;
  let value: T | undefined;
  let error: unknown;
  try {
    value = fn();
  } catch (e) {
    error = e;
  } finally {
    fs.writeSync = writeSync;
  }
  // The deepest frame of the first error stack says what actually went wrong.
  const firstStack = captured.split('HDF5-DIAG')[1] ?? '';
  const frames = [...firstStack.matchAll(/#\d+: .* in [\w.]+\(\): (.*)/g)].map((m) => m[1].trim());
  return { value, error, reason: frames.at(-1) ?? null };
}

function readKerasH5Sync(file: string): WeightFile {
  const h5 = new h5wasm.File(file, 'r');
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

export async function readKerasH5(file: string): Promise<WeightFile> {
  if (!looksLikeHdf5(file)) {
    throw new UserError(
      `${file}: not an HDF5 file. Download resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 again ` +
        `(see docs/pretrained.md) and set backbone.with.pretrained to it.`,
    );
  }
  await loadH5wasm();
  const { value, error, reason } = withHdf5Diagnostics(() => readKerasH5Sync(file));
  if (error instanceof UserError) throw error;
  if (error !== undefined || !value) {
    // h5wasm reports failures only as "name not defined"; libhdf5's own reason is the useful part.
    const why = reason ?? String((error as Error)?.message ?? error);
    throw new UserError(`${file}: HDF5 file cannot be read (${why}). It is probably truncated or damaged; download it again.`);
  }
  return value;
}
