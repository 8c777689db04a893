// Kaggle submission from a trained model: one row per image, sorted by GalaxyID, streamed in batches.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { UserError } from '../base/errors.js';
import { loadModel } from '../framework/model-io.js';
import { type CompiledPasses, compiledPassesFor, predictWith } from '../runtime/traced-pass.js';
import { decodeImage, toFloat, BadImageError } from '../vision/pipeline/decode.js';
import type { AffineDraw, RawImage } from '../framework/contracts.js';
import { applyAffineDraw, multiply } from '../vision/pipeline/warp.js';
import '../vision/layers/index.js'; // registers gzx's layers, which loading a saved model needs
import { GalaxyNormalisation, galaxyNormalise } from './layers/galaxy-normalisation.js';
import { CHECKPOINT_DIR, readCheckpointState } from '../framework/checkpoint.js';
import { readRunMeta } from '../tracking/runs/folder.js';
import { openSolutionsWriter } from './csv.js';
import { NUM_COLUMNS } from './tree.js';
import { checkOutputPath } from '../base/output-path.js';

// ---------- test-time augmentation ----------

/** One view of an image: zoom by `scale` about the centre, rotate by `rotate` degrees, then mirror. */
export interface TtaView {
  rotate: number;
  flip: boolean;
  scale: number;
}

const DIHEDRAL: TtaView[] = [0, 90, 180, 270].flatMap((rotate) => [
  { rotate, flip: false, scale: 1 },
  { rotate, flip: true, scale: 1 },
]);

/**
 * `--tta N`: N ≤ 8 takes the first N of the 8 exact right-angle views (identity, mirror, 90°,
 * 90° mirrored, …); N > 8 (even) takes N/2 evenly spaced rotations, each also mirrored.
 * Dieleman et al. (2015) averaged 60 views: 10 rotations × 3 scales (1/1.2, 1, 1.2) × mirror,
 * i.e. `--tta-views rotations=10,scales=0.8333:1:1.2,flip`.
 */
export function ttaViews(n: number): TtaView[] {
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--tta must be a positive integer, got ${n}.`);
  if (n <= DIHEDRAL.length) return DIHEDRAL.slice(0, n);
  if (n % 2 !== 0) {
    throw new UserError(`--tta ${n}: above 8 views the count must be even (rotations × mirror). Use ${n + 1} or ${n - 1}.`);
  }
  return parseTtaSpec(`rotations=${n / 2},flip`);
}

/** `rotations=R,scales=a:b:c,flip`: every rotation (R evenly spaced from 0°) × scale × (mirror). */
export function parseTtaSpec(spec: string): TtaView[] {
  let rotations = 1;
  let scales = [1];
  let flip = false;
  const fix = 'Write e.g. "rotations=10,scales=0.8333:1:1.2,flip".';
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [key, value] = part.split('=').map((s) => s.trim());
    if (key === 'flip' && value === undefined) flip = true;
    else if (key === 'rotations' && value !== undefined && /^\d+$/.test(value) && Number(value) >= 1) rotations = Number(value);
    else if (key === 'scales' && value !== undefined) {
      scales = value.split(':').map(Number);
      if (scales.some((s) => !(s > 0 && Number.isFinite(s)))) {
        throw new UserError(`--tta-views "${spec}": scales must be positive numbers separated by ':'. ${fix}`);
      }
    } else {
      throw new UserError(`--tta-views "${spec}": cannot read "${part}" (keys: rotations=N, scales=a:b, flip). ${fix}`);
    }
  }
  const views: TtaView[] = [];
  for (let r = 0; r < rotations; r++) {
    for (const scale of scales) {
      for (const mirrored of flip ? [false, true] : [false]) views.push({ rotate: (360 * r) / rotations, flip: mirrored, scale });
    }
  }
  return views;
}

/**
 * The view's affine map for src/vision/pipeline/warp.ts: output offset from the centre → source
 * offset. Rotating by θ (counter-clockwise as displayed, as the right-angle turns have always been),
 * zooming by `scale` about the centre, then mirroring columns: M = R(θ) · F / scale.
 */
export function viewMatrix(view: TtaView): AffineDraw['matrix'] {
  const t = (view.rotate * Math.PI) / 180;
  const rotation: AffineDraw['matrix'] = [Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)];
  const mirrorScale: AffineDraw['matrix'] = [(view.flip ? -1 : 1) / view.scale, 0, 0, 1 / view.scale];
  return multiply(rotation, mirrorScale);
}

/**
 * Applies a view to a decoded image, in the image pipeline rather than as a TensorFlow.js op, so
 * every backend runs every view (the native backend has no `RotateWithOffset` kernel). Right angles
 * and mirrors copy pixels exactly; other angles and scales are one bilinear pass with black sky
 * (zero padding) where the view leaves the image.
 */
export function applyView(image: RawImage, view: TtaView): RawImage {
  return applyAffineDraw(image, { matrix: viewMatrix(view), padding: 'zeros' });
}

// ---------- model ----------

export interface LoadedPredictor {
  model: tf.LayersModel;
  /** Inference as compiled graphs where the backend has them (see predictWith); dispose with the model. */
  passes?: CompiledPasses | null;
  modelDir: string;
  /** Centre crop (source pixels) and model input side, from the run's config.yaml or the flags. */
  crop: number | null;
  size: number;
  /** False when the model lacks the normalisation layer; predictions are then normalised here. */
  normalisedInModel: boolean;
}

interface RunConfigHints {
  crop: number | null | undefined;
  size: number | undefined;
  file: string;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

async function readRunConfig(file: string): Promise<RunConfigHints> {
  let doc: Record<string, any>;
  try {
    doc = YAML.parse(await fs.readFile(file, 'utf8')) ?? {};
  } catch (e) {
    throw new UserError(`${file}: cannot read the run's config (${(e as Error).message.split('\n')[0]}). Pass --size and --crop instead.`);
  }
  const crop = doc?.data?.with?.crop;
  const phases: { size?: number }[] = Array.isArray(doc?.train?.phases) ? doc.train.phases : [];
  const lastSize = phases.length ? phases[phases.length - 1]?.size : undefined;
  // The data plugins read crop 0 as "no crop", like null; `auto` is what the run's summary.json recorded.
  const resolvedCrop = crop === 'auto' ? await recordedCrop(path.join(path.dirname(file), 'summary.json')) : crop;
  const cropValue = resolvedCrop === 0 || resolvedCrop === null ? null : typeof resolvedCrop === 'number' ? resolvedCrop : undefined;
  return { crop: cropValue, size: lastSize ?? doc?.train?.size, file };
}

/** A run folder without model/ (killed, failed or still training): say so, and how to get a model. */
async function explainUnfinishedRun(dir: string): Promise<void> {
  const meta = await readRunMeta(dir);
  if (!meta) return; // not a run folder: loadModel says what is missing
  const state = await readCheckpointState(dir).catch(() => null);
  const how: Record<string, string> = {
    KILLED: 'was stopped',
    FAILED: 'failed',
    RUNNING: 'is still running or was killed',
    FINISHED: 'finished but its model/ folder is missing',
  };
  const when = state ? ` after epoch ${state.epoch}` : ' before its first checkpoint';
  const fix = state
    ? `Continue it with \`gzx run --resume ${dir}\`, or predict from its last checkpoint with --model ${path.join(dir, CHECKPOINT_DIR)}.`
    : `Continue it with \`gzx run --resume ${dir}\` (it starts from the beginning).`;
  throw new UserError(
    `--model ${dir}: this run has no final model: it ${how[meta.status] ?? meta.status}${meta.status === 'FINISHED' ? '' : when}. ${fix}`,
  );
}

/** The centre crop a run's data plugin chose (summary.json `data.crop`), if the run recorded it. */
async function recordedCrop(summaryFile: string): Promise<number | null | undefined> {
  try {
    const crop = JSON.parse(await fs.readFile(summaryFile, 'utf8'))?.data?.crop;
    return crop === null || typeof crop === 'number' ? crop : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loads a model from a run folder (`runs/<id>` with `model/` and `config.yaml`) or a model folder
 * (model.json + weights). Crop and size: flags first, then config.yaml, then a fixed input shape.
 */
export async function loadPredictor(modelPath: string, overrides: { crop?: number | null; size?: number } = {}): Promise<LoadedPredictor> {
  if (!(await exists(modelPath))) {
    throw new UserError(`--model ${modelPath} does not exist. Point it at a run folder (runs/<id>) or a model folder with model.json.`);
  }
  let modelDir = modelPath;
  if (path.basename(modelPath) === 'model.json') modelDir = path.dirname(modelPath);
  else if (await exists(path.join(modelPath, 'model', 'model.json'))) modelDir = path.join(modelPath, 'model');
  if (!(await exists(path.join(modelDir, 'model.json')))) await explainUnfinishedRun(modelPath);
  // A run folder's config sits beside its model folder (two levels up from runs/<id>/checkpoint/model).
  const configFile = [modelDir, path.dirname(modelDir), path.dirname(path.dirname(modelDir))].map((d) => path.join(d, 'config.yaml'));
  let hints: RunConfigHints | null = null;
  for (const f of configFile) if (!hints && (await exists(f))) hints = await readRunConfig(f);

  let model: tf.LayersModel;
  try {
    model = await loadModel(modelDir);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(
      `${path.join(modelDir, 'model.json')}: cannot load the model (${(e as Error).message.split('\n')[0]}). ` +
        `Give a model saved by gzx (TensorFlow.js layers format).`,
    );
  }
  const inputShape = model.inputs[0].shape;
  if (inputShape.length !== 4 || inputShape[3] !== 3) {
    model.dispose();
    throw new UserError(`${modelDir}: the model takes input [${inputShape.join(', ')}], not RGB images [batch, h, w, 3].`);
  }
  const fixedSize = inputShape[1] != null && inputShape[1] === inputShape[2] ? inputShape[1] : undefined;
  const size = overrides.size ?? hints?.size ?? fixedSize;
  if (size === undefined) {
    model.dispose();
    throw new UserError(
      `${modelDir}: no config.yaml beside the model tells the input size. Pass --size (and --crop if the model was trained on a centre crop).`,
    );
  }
  if (!Number.isInteger(size) || size < 1) {
    model.dispose();
    throw new UserError(`Input size must be a positive integer, got ${size}${hints ? ` (from ${hints.file})` : ''}.`);
  }
  if (fixedSize !== undefined && size !== fixedSize) {
    model.dispose();
    throw new UserError(
      `${modelDir}: the model only accepts ${fixedSize}×${fixedSize} images, but size ${size} was asked for. Use --size ${fixedSize}.`,
    );
  }
  const crop = overrides.crop !== undefined ? overrides.crop : (hints?.crop ?? null);
  const last = model.layers[model.layers.length - 1];
  const passes = compiledPassesFor(tf.getBackend(), () => {});
  return { model, modelDir, crop, size, normalisedInModel: last instanceof GalaxyNormalisation, passes };
}

/** Averaged, normalised predictions of a batch of same-size images over the views. */
export function predictImages(predictor: LoadedPredictor, images: RawImage[], views: TtaView[] = DIHEDRAL.slice(0, 1)): Float32Array[] {
  const n = images.length;
  const sum = new Float32Array(n * NUM_COLUMNS);
  const { size } = predictor;
  for (const view of views) {
    const out = tf.tidy(() => {
      const batch = tf.tensor4d(toFloat(images.map((image) => applyView(image, view))), [n, size, size, 3]);
      let y = predictWith(predictor.passes, predictor.model, batch) as tf.Tensor2D;
      if (!predictor.normalisedInModel) y = galaxyNormalise(y);
      return y;
    });
    const values = out.dataSync();
    const shape = out.shape;
    out.dispose();
    if (shape[1] !== NUM_COLUMNS) {
      throw new UserError(`${predictor.modelDir}: the model outputs ${shape[1]} values per image, not the ${NUM_COLUMNS} Galaxy Zoo answers.`);
    }
    for (let i = 0; i < values.length; i++) sum[i] += values[i];
  }
  const rows: Float32Array[] = [];
  for (let r = 0; r < n; r++) {
    const row = new Float32Array(NUM_COLUMNS);
    for (let c = 0; c < NUM_COLUMNS; c++) row[c] = Math.min(1, Math.max(0, sum[r * NUM_COLUMNS + c] / views.length));
    rows.push(row);
  }
  return rows;
}

// ---------- images ----------

export interface ImageFile {
  id: string;
  path: string;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);
const byGalaxyId = new Intl.Collator('en', { numeric: true }).compare;

/** Images of a folder as (id = file name without extension), sorted by GalaxyID numerically. */
export async function listImages(dir: string): Promise<ImageFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT'
        ? `--images ${dir} does not exist. Point it at the folder of galaxy JPEGs (e.g. images_test_rev1).`
        : code === 'ENOTDIR'
          ? `--images ${dir} is a file, not a folder. Point it at the folder of galaxy JPEGs.`
          : `--images ${dir} cannot be read (${code}).`,
    );
  }
  const files = names
    .filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase()))
    .map((n) => ({ id: path.basename(n, path.extname(n)), path: path.join(dir, n) }))
    .sort((a, b) => byGalaxyId(a.id, b.id) || a.path.localeCompare(b.path));
  if (files.length === 0) throw new UserError(`--images ${dir} holds no .jpg/.jpeg/.png files. Point it at the folder of galaxy JPEGs.`);
  for (let i = 1; i < files.length; i++) {
    if (files[i].id === files[i - 1].id) {
      throw new UserError(
        `--images ${dir}: ${path.basename(files[i - 1].path)} and ${path.basename(files[i].path)} have the same GalaxyID ${files[i].id}. Keep one.`,
      );
    }
  }
  return files;
}

/** A submission's GalaxyIDs are numbers: an image named otherwise (galaxy_abc.jpg) would become a bogus row. */
function checkGalaxyIds(dir: string, files: ImageFile[]): void {
  const bad = files.filter((f) => !/^\d+$/.test(f.id));
  if (bad.length === 0) return;
  const named = bad
    .slice(0, 5)
    .map((f) => path.basename(f.path))
    .join(', ');
  const more = bad.length > 5 ? ` and ${bad.length - 5} more` : '';
  throw new UserError(
    `--images ${dir}: ${bad.length} image${bad.length === 1 ? ' is' : 's are'} not named <GalaxyID>.jpg with a numeric GalaxyID: ${named}${more}. ` +
      `Rename or move ${bad.length === 1 ? 'it' : 'them'}: a Kaggle submission has one row per numeric GalaxyID.`,
  );
}

/** Decodes one image for the model; an unreadable image is the user's to fix (a submission needs every row). */
export async function decodeForModel(file: string, crop: number | null, size: number): Promise<RawImage> {
  try {
    return await decodeImage(file, { crop, size });
  } catch (e) {
    if (e instanceof BadImageError) {
      throw new UserError(`Image ${file} cannot be decoded (${e.reason}). Replace or remove the file and run again.`);
    }
    throw e;
  }
}

// ---------- submission ----------

export interface PredictOptions {
  model: string;
  images: string;
  out: string;
  /** Number of views (see ttaViews) or an explicit view list. */
  tta?: number | TtaView[];
  batchSize?: number;
  crop?: number | null;
  size?: number;
  log?: (message: string) => void;
}

export interface PredictSummary {
  images: number;
  views: number;
  crop: number | null;
  size: number;
  seconds: number;
  imagesPerSec: number;
  out: string;
}

/**
 * Writes the submission. Ids are sorted first and batches processed in that order, so rows are
 * written as soon as their batch is done and at most two batches of pixels are in memory.
 */
export async function predictToCsv(options: PredictOptions): Promise<PredictSummary> {
  const log = options.log ?? (() => undefined);
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`--batch-size must be a positive integer, got ${batchSize}.`);
  const views = Array.isArray(options.tta) ? options.tta : ttaViews(options.tta ?? 1);
  await checkOutputPath(options.out, 'file', '--out'); // before scoring every image
  const files = await listImages(options.images);
  checkGalaxyIds(options.images, files);
  const predictor = await loadPredictor(options.model, { crop: options.crop, size: options.size });
  const { crop, size } = predictor;
  log(
    `predicting ${files.length} images from ${options.images}: crop ${crop ?? 'none'}, size ${size}, ${views.length} view${views.length === 1 ? '' : 's'}, batch ${batchSize}`,
  );

  const started = Date.now();
  let writer;
  try {
    writer = await openSolutionsWriter(options.out);
  } catch (e) {
    predictor.passes?.dispose();
    predictor.model.dispose();
    throw e;
  }
  const decodeBatch = (b: number) => Promise.all(files.slice(b * batchSize, (b + 1) * batchSize).map((f) => decodeForModel(f.path, crop, size)));
  const batches = Math.ceil(files.length / batchSize);
  let lastLog = started;
  try {
    let next = decodeBatch(0);
    for (let b = 0; b < batches; b++) {
      const images = await next;
      // Decode the next batch (sharp works off the main thread) while this one runs through the model.
      if (b + 1 < batches) {
        next = decodeBatch(b + 1);
        next.catch(() => undefined); // surfaced by the await above on the next turn
      }
      const rows = predictImages(predictor, images, views);
      for (let i = 0; i < rows.length; i++) await writer.write(files[b * batchSize + i].id, rows[i]);
      const done = Math.min(files.length, (b + 1) * batchSize);
      if (Date.now() - lastLog > 10_000 || done === files.length) {
        lastLog = Date.now();
        const rate = done / ((Date.now() - started) / 1000);
        log(`  ${done}/${files.length} images (${rate.toFixed(1)} images/s)`);
      }
    }
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  } finally {
    predictor.passes?.dispose();
    predictor.model.dispose();
  }
  const seconds = (Date.now() - started) / 1000;
  return { images: files.length, views: views.length, crop, size, seconds, imagesPerSec: files.length / seconds, out: options.out };
}
