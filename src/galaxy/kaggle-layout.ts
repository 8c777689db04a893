// Reads a folder in the Kaggle Galaxy Zoo layout (training_solutions_rev1.csv +
// images_training_rev1/<GalaxyID>.jpg) into a deterministic train/valid split.
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { DataSplits, Sample } from '../core/contracts.js';
import { UserError } from '../core/errors.js';
import { SeededRng, deriveSeed } from '../core/random.js';
import { readSolutionsCsv } from './csv.js';

export interface KaggleLayoutOptions {
  /** Absolute folder of the dataset. */
  dir: string;
  /** CSV file name (or path) relative to `dir`. */
  csv: string;
  /** Image folder relative to `dir`. */
  images: string;
  /** Centre crop in source pixels; null = none. */
  crop: number | null;
  validFraction: number;
  splitSeed: number;
  /** Use only the first `limit` rows of the CSV (0 = all), before splitting. */
  limit: number;
  onBadImage: 'skip' | 'fail';
}

/** How many missing files a message names before it only counts the rest. */
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

export async function readKaggleLayout(o: KaggleLayoutOptions): Promise<DataSplits> {
  if (!(o.validFraction >= 0 && o.validFraction < 1)) {
    throw new UserError(`valid_fraction is ${o.validFraction}; it must be at least 0 and below 1 (e.g. 0.2).`);
  }
  const dirStat = await fsp.stat(o.dir).catch(() => null);
  if (!dirStat?.isDirectory()) {
    throw new UserError(
      `The data folder ${o.dir} does not exist. Set data.with.dir to a folder holding ${o.csv} and ${o.images}/ ` +
        `(relative paths resolve against the config file's folder), or generate one with \`gzx data synth --out <dir>\`.`,
    );
  }
  const csvFile = path.resolve(o.dir, o.csv);
  const imageDir = path.resolve(o.dir, o.images);
  const table = await readSolutionsCsv(csvFile, { role: 'solutions CSV' });
  let ids = table.ids;
  let rows = table.rows;
  if (o.limit > 0 && o.limit < ids.length) {
    ids = ids.slice(0, o.limit);
    rows = rows.slice(0, o.limit);
  }
  if (ids.length === 0) {
    throw new UserError(`solutions CSV ${csvFile} has a header but no galaxies. Add rows (one per image), or point data.with.csv at the right file.`);
  }

  let files: Set<string>;
  try {
    files = new Set(await fsp.readdir(imageDir));
  } catch {
    throw new UserError(
      `The image folder ${imageDir} does not exist or cannot be read. Set data.with.images to the folder (inside ${o.dir}) holding <GalaxyID>.jpg files.`,
    );
  }
  const missing = ids.filter((id) => !files.has(`${id}.jpg`));
  if (missing.length > 0) {
    const named = missing.slice(0, MISSING_NAMED).map((id) => `${id}.jpg`).join(', ');
    const more = missing.length > MISSING_NAMED ? ` and ${missing.length - MISSING_NAMED} more` : '';
    throw new UserError(
      `${missing.length} of ${ids.length} images listed in ${csvFile} are missing from ${imageDir}: ${named}${more}. ` +
        `Copy the missing images there, or remove their rows from the CSV (or set data.with.limit to use fewer rows).`,
    );
  }

  const samples: Sample[] = ids.map((id, i) => ({ id, imagePath: path.join(imageDir, `${id}.jpg`), labels: rows[i] }));
  const split = splitIndices(samples.length, o.validFraction, o.splitSeed);
  if (split.train.length === 0) {
    throw new UserError(`Only ${samples.length} galaxy in ${csvFile}: nothing is left to train on. Use a larger dataset or valid_fraction 0.`);
  }
  return {
    train: split.train.map((i) => samples[i]),
    valid: split.valid.map((i) => samples[i]),
    fingerprint: fingerprint(ids, rows, o),
    crop: o.crop && o.crop > 0 ? o.crop : null,
    skipped: [],
    badImagePolicy: o.onBadImage,
  };
}

/** sha256 over what decides the training data: ids, labels and the split/crop options (12 hex). */
function fingerprint(ids: string[], rows: Float32Array[], o: KaggleLayoutOptions): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ crop: o.crop || null, valid: o.validFraction, seed: o.splitSeed, limit: o.limit }));
  for (let i = 0; i < ids.length; i++) {
    h.update(ids[i]);
    h.update('\n');
    h.update(new Uint8Array(rows[i].buffer, rows[i].byteOffset, rows[i].byteLength));
  }
  return h.digest('hex').slice(0, 12);
}
