// Reads a folder in the Kaggle Galaxy Zoo layout (training_solutions_rev1.csv +
// images_training_rev1/<GalaxyID>.jpg) into a deterministic train/valid split: a random share held
// out with a split seed, or a fixed validation set named by the user.
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, isScalar, isSeq } from 'yaml';
import type { DataSplits, Sample, SplitReport } from '../framework/contracts.js';
import { UserError } from '../base/errors.js';
import { SeededRng, deriveSeed } from '../base/random.js';
import { readSolutionsCsv, type SolutionsTable } from './csv.js';
import type { PluginProblem } from '../framework/plugin.js';
import { jpegSize } from '../vision/pipeline/decode.js';

export interface KaggleLayoutOptions {
  /** Absolute folder of the dataset. */
  dir: string;
  /** CSV file name (or path) relative to `dir`. */
  csv: string;
  /** Image folder relative to `dir`. */
  images: string;
  /** Centre crop in source pixels; null = none. */
  crop: number | null;
  /** Share of galaxies held out at random (0 = no validation set); unused when `valid` is set. */
  validFraction: number;
  /** Seed of the random hold-out; unused when `valid` is set. */
  splitSeed: number;
  /**
   * A fixed validation set (absolute path), null = the random hold-out. A folder in the Kaggle
   * layout (`csv` + `images` inside it), a solutions CSV whose images are in this dataset's image
   * folder, or a list of GalaxyIDs of the main CSV (a text file, one per line; a YAML list; or a CSV
   * with the single column GalaxyID).
   */
  valid: string | null;
  /** Use only the first `limit` rows of the CSV (0 = all): before the random split, or of the training rows left beside `valid`. */
  limit: number;
  onBadImage: 'skip' | 'fail';
}

/** How many missing files or unknown ids a message names before it only counts the rest. */
const MISSING_NAMED = 5;
/** Stream tag of the split shuffle, so it never coincides with other uses of the seed. */
const SPLIT_STREAM = 0x5b1;

/**
 * Indices 0…n−1 split into train and valid, deterministic in (n, fraction, seed).
 * Valid gets round(n·fraction) rows, at least one when fraction > 0 and n ≥ 2; both keep file order.
 */
export function splitIndices(n: number, validFraction: number, seed: number): { train: number[]; valid: number[] } {
  let nValid = Math.round(n * validFraction);
  if (validFraction > 0 && n >= 2) nValid = Math.min(Math.max(nValid, 1), n - 1);
  const order = new SeededRng(deriveSeed(seed, SPLIT_STREAM)).shuffle(Array.from({ length: n }, (_, i) => i));
  const isValid = new Uint8Array(n);
  for (let k = 0; k < nValid; k++) isValid[order[k]] = 1;
  const train: number[] = [];
  const valid: number[] = [];
  for (let i = 0; i < n; i++) (isValid[i] ? valid : train).push(i);
  return { train, valid };
}

interface Chosen {
  train: Sample[];
  valid: Sample[];
  report: SplitReport;
}

export async function readKaggleLayout(o: KaggleLayoutOptions): Promise<DataSplits> {
  if (o.valid === null && !(o.validFraction >= 0 && o.validFraction < 1)) {
    throw new UserError(`valid_fraction is ${o.validFraction}; it must be at least 0 and below 1 (e.g. 0.2).`);
  }
  const dirStat = await fsp.stat(o.dir).catch(() => null);
  if (!dirStat?.isDirectory()) throw new UserError(`The data folder ${missingDataFolder(o)}`);
  const main = await readLabelledCsv(path.resolve(o.dir, o.csv), path.resolve(o.dir, o.images), 'solutions CSV', 'data.with.csv');
  const chosen = o.valid === null ? await randomSplit(main, o) : await namedSplit(main, o, o.valid);
  return {
    train: chosen.train,
    valid: chosen.valid,
    fingerprint: fingerprint(chosen, o),
    crop: o.crop && o.crop > 0 ? o.crop : null,
    skipped: [],
    badImagePolicy: o.onBadImage,
    split: chosen.report,
  };
}

/** The fact and the fix for a data folder that is not there (said by `check` and by readKaggleLayout). */
function missingDataFolder(o: KaggleLayoutOptions): string {
  return (
    `${o.dir} does not exist. Set data.with.dir to a folder holding ${o.csv} and ${o.images}/ ` +
    `(relative paths resolve against the config file's folder), or generate one with \`gzx data synth --out <dir>\`.`
  );
}

/** Images whose size `layoutProblems` reads to compare with the crop (headers only). */
const CROP_SAMPLE = 16;

/**
 * What can be checked before training (gzx validate, and gzx run before its run folder): the folder,
 * the CSV, the image folder and the validation set exist, and the crop is not larger than every
 * sampled image (then every image would be skipped). Keys are data.with options.
 */
export async function layoutProblems(o: KaggleLayoutOptions): Promise<PluginProblem[]> {
  const isDir = async (p: string) => (await fsp.stat(p).catch(() => null))?.isDirectory() ?? false;
  const isFile = async (p: string) => (await fsp.stat(p).catch(() => null))?.isFile() ?? false;
  if (!(await isDir(o.dir))) return [{ key: 'dir', message: missingDataFolder(o) }];
  const problems: PluginProblem[] = [];
  const csv = path.resolve(o.dir, o.csv);
  if (!(await isFile(csv))) problems.push({ key: 'csv', message: `${csv} does not exist. Set data.with.csv to the solutions CSV inside ${o.dir}.` });
  const images = path.resolve(o.dir, o.images);
  if (!(await isDir(images))) problems.push({ key: 'images', message: `${images} does not exist. ${mainImagesFix(o).folder}` });
  if (o.valid && !(await fsp.stat(o.valid).catch(() => null))) {
    problems.push({
      key: 'valid',
      message: `${o.valid} does not exist. Name a folder, a solutions CSV or a list of GalaxyIDs (relative to the config file), or remove valid.`,
    });
  }
  if (o.crop && problems.length === 0) {
    const sample = (await fsp.readdir(images))
      .filter((f) => f.toLowerCase().endsWith('.jpg'))
      .sort()
      .slice(0, CROP_SAMPLE);
    const sizes: { file: string; width: number; height: number }[] = [];
    for (const f of sample) {
      const head = await readHead(path.join(images, f));
      const size = head && jpegSize(head);
      if (size) sizes.push({ file: f, ...size });
    }
    if (sizes.length > 0 && sizes.every((s) => o.crop! > Math.min(s.width, s.height))) {
      const largest = Math.max(...sizes.map((s) => Math.min(s.width, s.height)));
      const eg = sizes[0];
      problems.push({
        key: 'crop',
        message:
          `${o.crop} px is larger than the images (${sizes.length} checked, e.g. ${eg.file} is ${eg.width}×${eg.height}), so every image would be skipped. ` +
          `Set crop to at most ${largest}, or null for no crop.`,
      });
    }
  }
  return problems;
}

/** The first 64 kB of a file: enough for a JPEG's frame header. */
async function readHead(file: string): Promise<Uint8Array | null> {
  const handle = await fsp.open(file, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const buffer = Buffer.alloc(65536);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A solutions CSV and the folder its images are in; images are checked once the used rows are known. */
interface LabelledCsv {
  file: string;
  imageDir: string;
  table: SolutionsTable;
}

async function readLabelledCsv(file: string, imageDir: string, role: string, key: string): Promise<LabelledCsv> {
  const table = await readSolutionsCsv(file, { role });
  if (table.ids.length === 0) {
    throw new UserError(`${role} ${file} has a header but no galaxies. Add rows (one per image), or point ${key} at the right file.`);
  }
  return { file, imageDir, table };
}

function samplesOf(csv: LabelledCsv, keep: (i: number) => boolean = () => true): Sample[] {
  const out: Sample[] = [];
  csv.table.ids.forEach((id, i) => {
    if (keep(i)) out.push({ id, imagePath: path.join(csv.imageDir, `${id}.jpg`), labels: csv.table.rows[i] });
  });
  return out;
}

/** What to do when the image folder is missing, and when some images are. */
interface ImagesFix {
  folder: string;
  files: string;
}

/** Every sample's JPEG exists in `imageDir` (one UserError naming the first few missing, and the fix). */
async function checkImages(samples: Sample[], csvFile: string, imageDir: string, fix: ImagesFix): Promise<void> {
  let files: Set<string>;
  try {
    files = new Set(await fsp.readdir(imageDir));
  } catch {
    throw new UserError(`The image folder ${imageDir} does not exist or cannot be read. ${fix.folder}`);
  }
  const missing = samples.filter((s) => !files.has(`${s.id}.jpg`));
  if (missing.length === 0) return;
  const named = missing
    .slice(0, MISSING_NAMED)
    .map((s) => `${s.id}.jpg`)
    .join(', ');
  const more = missing.length > MISSING_NAMED ? ` and ${missing.length - MISSING_NAMED} more` : '';
  throw new UserError(
    `${missing.length} of ${samples.length} images listed in ${csvFile} are missing from ${imageDir}: ${named}${more}. ${fix.files}`,
  );
}

function mainImagesFix(o: KaggleLayoutOptions): ImagesFix {
  return {
    folder: `Set data.with.images to the folder (inside ${o.dir}) holding <GalaxyID>.jpg files.`,
    files: 'Copy the missing images there, or remove their rows from the CSV (or set data.with.limit to use fewer rows).',
  };
}

function firstRows<T>(list: T[], limit: number): T[] {
  return limit > 0 && limit < list.length ? list.slice(0, limit) : list;
}

/** `valid_fraction` of the first `limit` rows held out at random with `split_seed`. */
async function randomSplit(main: LabelledCsv, o: KaggleLayoutOptions): Promise<Chosen> {
  const samples = firstRows(samplesOf(main), o.limit);
  await checkImages(samples, main.file, main.imageDir, mainImagesFix(o));
  if (o.validFraction > 0 && samples.length < 2) {
    throw new UserError(
      `Only ${samples.length} galaxy in ${main.file}: holding out valid_fraction ${o.validFraction} leaves nothing to train on. ` +
        `Use a larger dataset, or set data.with.valid_fraction: 0 to train without a validation set.`,
    );
  }
  const split = splitIndices(samples.length, o.validFraction, o.splitSeed);
  const train = split.train.map((i) => samples[i]);
  const valid = split.valid.map((i) => samples[i]);
  const details = { valid_fraction: o.validFraction, split_seed: o.splitSeed, train: train.length, valid: valid.length };
  const text =
    valid.length === 0
      ? `${count(train.length)} training galaxies; no validation set (valid_fraction 0): no validation metrics`
      : `${count(train.length)} training and ${count(valid.length)} validation galaxies, ` +
        `held out at random (valid_fraction ${o.validFraction}, split_seed ${o.splitSeed})`;
  return { train, valid, report: { text, details: { method: 'random', ...details } } };
}

/** The kinds of file or folder `data.with.valid` may name. */
type NamedForm = 'folder' | 'csv' | 'ids';

/** The fixed validation set at `validPath`; its galaxies are taken out of the training rows. */
async function namedSplit(main: LabelledCsv, o: KaggleLayoutOptions, validPath: string): Promise<Chosen> {
  const form = await namedForm(validPath);
  let valid: Sample[];
  let validCheck: (() => Promise<void>) | null = null;
  if (form === 'ids') {
    const listed = await readIdList(validPath);
    const rowOf = new Map(main.table.ids.map((id, i) => [id, i]));
    const unknown = listed.filter((x) => !rowOf.has(x.id));
    if (unknown.length > 0) {
      const named = unknown
        .slice(0, MISSING_NAMED)
        .map((x) => `${x.id} (line ${x.line})`)
        .join(', ');
      const more = unknown.length > MISSING_NAMED ? ` and ${unknown.length - MISSING_NAMED} more` : '';
      throw new UserError(
        `data.with.valid: ${unknown.length} of ${listed.length} GalaxyIDs in ${validPath} are not in ${main.file}: ${named}${more}. ` +
          `A list names galaxies of the training CSV to validate on; remove those ids, or give a solutions CSV or a folder with their labels and images instead.`,
      );
    }
    const all = samplesOf(main);
    valid = listed.map((x) => all[rowOf.get(x.id)!]);
  } else {
    // A folder brings its own images; a CSV's images are in this dataset's image folder.
    const validCsv =
      form === 'folder'
        ? await readLabelledCsv(path.resolve(validPath, o.csv), path.resolve(validPath, o.images), 'validation solutions CSV', 'data.with.valid')
        : await readLabelledCsv(validPath, path.resolve(o.dir, o.images), 'validation solutions CSV', 'data.with.valid');
    valid = samplesOf(validCsv);
    validCheck = () =>
      checkImages(
        valid,
        validCsv.file,
        validCsv.imageDir,
        form === 'folder'
          ? {
              folder: `Put the validation images in ${o.images}/ inside ${validPath} (data.with.images names that folder in both).`,
              files: 'Copy the missing images there, or remove their rows from the validation CSV.',
            }
          : {
              folder: `A validation CSV's images are read from the training image folder (data.with.images).`,
              files:
                `A validation CSV's images are read from the training image folder (data.with.images): copy them there, or remove their rows; ` +
                `for images elsewhere, give a folder in the Kaggle layout as data.with.valid.`,
            },
      );
  }

  const validIds = new Set(valid.map((s) => s.id));
  const rest = samplesOf(main, (i) => !validIds.has(main.table.ids[i]));
  const removed = main.table.ids.length - rest.length;
  if (rest.length === 0) {
    throw new UserError(
      `data.with.valid: every galaxy of ${main.file} is also in the validation set ${validPath}, so nothing is left to train on. ` +
        `Name a validation set that holds only some of them.`,
    );
  }
  const train = firstRows(rest, o.limit);
  await checkImages(form === 'ids' ? [...train, ...valid] : train, main.file, main.imageDir, mainImagesFix(o));
  await validCheck?.();

  const where = path.basename(validPath);
  const overlap =
    form === 'ids'
      ? `, taken out of ${path.basename(main.file)}`
      : removed > 0
        ? `; ${count(removed)} of them were also in ${path.basename(main.file)} and were removed from training (no leak)`
        : `; none of them is in ${path.basename(main.file)}`;
  const text = `${count(train.length)} training and ${count(valid.length)} validation galaxies, the validation set fixed by ${where} (${FORM_NAMES[form]})${overlap}`;
  return {
    train,
    valid,
    report: {
      text,
      details: { method: 'fixed', valid_set: validPath, valid_form: form, train: train.length, valid: valid.length, removed_from_train: removed },
    },
  };
}

const FORM_NAMES: Record<NamedForm, string> = {
  folder: 'a folder in the Kaggle layout',
  csv: 'a solutions CSV',
  ids: 'a list of GalaxyIDs',
};

/** A folder, a solutions CSV, or an id list (a `.csv` whose header is the single column GalaxyID is a list too). */
async function namedForm(validPath: string): Promise<NamedForm> {
  const stat = await fsp.stat(validPath).catch(() => null);
  if (!stat) {
    throw new UserError(
      `data.with.valid: ${validPath} does not exist. Give a folder in the Kaggle layout, a solutions CSV, or a list of GalaxyIDs ` +
        `(.txt one per line, or a .yaml list); a relative path resolves against the config file's folder.`,
    );
  }
  if (stat.isDirectory()) return 'folder';
  if (path.extname(validPath).toLowerCase() !== '.csv') return 'ids';
  const firstLine = (await fsp.readFile(validPath, 'utf8'))
    .replace(/^\uFEFF/, '')
    .split('\n', 1)[0]
    .trim();
  return firstLine === 'GalaxyID' ? 'ids' : 'csv';
}

interface ListedId {
  id: string;
  line: number;
}

/** GalaxyIDs of a YAML list (`.yaml`/`.yml`) or a text file (one per line, `#` comments, optional header GalaxyID). */
async function readIdList(file: string): Promise<ListedId[]> {
  const text = await fsp.readFile(file, 'utf8');
  const ext = path.extname(file).toLowerCase();
  const listed = ext === '.yaml' || ext === '.yml' ? yamlIds(file, text) : textIds(file, text);
  if (listed.length === 0) {
    throw new UserError(`data.with.valid: ${file} lists no GalaxyIDs. Put one GalaxyID per line (or a YAML list of them).`);
  }
  const firstLine = new Map<string, number>();
  for (const x of listed) {
    const first = firstLine.get(x.id);
    if (first !== undefined) {
      throw new UserError(
        `data.with.valid: ${file}, line ${x.line}: GalaxyID ${x.id} is listed again (first on line ${first}). Remove the duplicate.`,
      );
    }
    firstLine.set(x.id, x.line);
  }
  return listed;
}

function textIds(file: string, text: string): ListedId[] {
  const out: ListedId[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let sawContent = false;
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const first = !sawContent;
    sawContent = true;
    if (first && line === 'GalaxyID') return;
    if (/[\s,;]/.test(line)) {
      throw new UserError(
        `data.with.valid: ${file}, line ${i + 1}: "${clip(line)}" is not one GalaxyID. Put one GalaxyID per line (a YAML list needs the extension .yaml).`,
      );
    }
    out.push({ id: line, line: i + 1 });
  });
  return out;
}

function yamlIds(file: string, text: string): ListedId[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new UserError(`data.with.valid: ${file}, line ${e.linePos?.[0].line ?? '?'}: not valid YAML (${e.message.split('\n')[0]}). Fix the file.`);
  }
  if (!isSeq(doc.contents)) {
    throw new UserError(`data.with.valid: ${file} is not a YAML list. Write one GalaxyID per item, e.g. "- 100008".`);
  }
  return doc.contents.items.map((item) => {
    const line = isScalar(item) && item.range ? lineCounter.linePos(item.range[0]).line : 0;
    const v = isScalar(item) ? item.value : undefined;
    if (!((typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'string' && v.trim() !== '' && !/\s/.test(v.trim())))) {
      throw new UserError(
        `data.with.valid: ${file}${line ? `, line ${line}` : ''}: an item is not a GalaxyID. Write one GalaxyID per item, e.g. "- 100008".`,
      );
    }
    return { id: String(v).trim(), line };
  });
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function count(n: number): string {
  return n.toLocaleString('en');
}

/**
 * sha256 over what decides the data a run sees (12 hex): the crop and the ids and labels of the
 * training galaxies, then of the validation galaxies, each in order. The split is part of it by
 * construction: another split seed, fraction or validation set gives another fingerprint.
 */
function fingerprint(chosen: Chosen, o: KaggleLayoutOptions): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ crop: o.crop || null }));
  for (const [name, samples] of [
    ['train', chosen.train],
    ['valid', chosen.valid],
  ] as const) {
    h.update(`\n${name}\n`);
    for (const s of samples) {
      h.update(s.id);
      h.update('\n');
      if (s.labels) h.update(new Uint8Array(s.labels.buffer, s.labels.byteOffset, s.labels.byteLength));
    }
  }
  return h.digest('hex').slice(0, 12);
}
