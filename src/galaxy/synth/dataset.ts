// Writes a synthetic dataset in the Kaggle layout, deterministic from the seed:
//   training_solutions_rev1.csv, images_training_rev1/<GalaxyID>.jpg, [images_test_rev1/], synth.json
// A folder whose synth.json matches the request is reused instead of regenerated.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../base/errors.js';
import { SeededRng, deriveSeed } from '../../base/random.js';
import { writeSolutionsCsv } from '../csv.js';
import { sampleGalaxy } from './labels.js';
import { encodeJpeg, jpegQuality, renderGalaxy } from './render.js';

/** Bump when labels or images change for the same seed, so old folders are not silently reused. */
export const SYNTH_GENERATOR_VERSION = 6;
export const MANIFEST_FILE = 'synth.json';
export const SOLUTIONS_FILE = 'training_solutions_rev1.csv';
export const TRAIN_IMAGES_DIR = 'images_training_rev1';
export const TEST_IMAGES_DIR = 'images_test_rev1';
/** Marks a folder whose generation has not finished: it may be regenerated without asking. */
const PARTIAL_MARKER = '.synth-incomplete';
/** Real GalaxyIDs are 6-digit numbers; ours count up from here (train first, then test). */
const FIRST_ID = 100000;

// Independent random streams per purpose, so e.g. image i's labels do not depend on `count`.
const STREAM_TRAIN_LABELS = 1;
const STREAM_TRAIN_RENDER = 2;
const STREAM_TEST_LABELS = 3;
const STREAM_TEST_RENDER = 4;

export interface SynthManifest {
  generator: 'gzx-synth';
  version: number;
  seed: number;
  count: number;
  size: number;
  testCount: number;
  csv: string;
  images: string;
  testImages: string | null;
}

export interface SynthRequest {
  dir: string;
  count: number;
  size: number;
  seed: number;
  /** Unlabelled test images; `undefined` accepts any existing folder's test count (0 when generating). */
  testCount?: number;
  /** Regenerate even when the folder holds a different synthetic dataset. */
  force?: boolean;
}

export interface SynthProgress {
  done: number;
  total: number;
  elapsedSec: number;
}

export interface SynthResult {
  dir: string;
  reused: boolean;
  manifest: SynthManifest;
  /** Images written per second (0 when reused). */
  imagesPerSec: number;
  elapsedSec: number;
}

export function syntheticId(index: number): string {
  return String(FIRST_ID + index);
}

/** Labels of training image `index` (the same whatever the dataset's count). */
export function syntheticLabels(seed: number, index: number): number[] {
  return sampleGalaxy(new SeededRng(deriveSeed(seed, STREAM_TRAIN_LABELS, index))).labels;
}

/** The JPEG of one image, given its labels and its render stream. */
async function renderJpeg(labels: number[], seed: number, stream: number, index: number, size: number): Promise<Buffer> {
  const rng = new SeededRng(deriveSeed(seed, stream, index));
  const image = renderGalaxy(labels, rng, { size });
  return encodeJpeg(image, jpegQuality(rng));
}

function validateRequest(r: SynthRequest): void {
  const bad = (what: string, fix: string) => {
    throw new UserError(`Synthetic dataset: ${what}. ${fix}`);
  };
  if (!Number.isInteger(r.count) || r.count < 1) bad(`count ${r.count} is not a positive integer`, 'Use e.g. --count 2000.');
  if (!Number.isInteger(r.size) || r.size < 32 || r.size > 1024)
    bad(`size ${r.size} is not an integer in 32…1024`, 'Use 424 like the real images, or a smaller size for quick tests.');
  if (!Number.isInteger(r.seed) || r.seed < 0 || r.seed > 0xffffffff) bad(`seed ${r.seed} is not an integer in 0…4294967295`, 'Use e.g. --seed 1.');
  if (r.testCount !== undefined && (!Number.isInteger(r.testCount) || r.testCount < 0))
    bad(`test count ${r.testCount} is not a non-negative integer`, 'Use e.g. --test-count 100, or 0.');
  if (r.count + (r.testCount ?? 0) > 900000) bad('more than 900000 images were asked for', 'GalaxyIDs are 6-digit numbers; ask for fewer images.');
}

async function readManifest(dir: string): Promise<SynthManifest | null> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`Cannot read ${file} (${(e as Error).message}). Check the folder's permissions.`);
  }
  try {
    const m = JSON.parse(text) as SynthManifest;
    if (m.generator !== 'gzx-synth') throw new Error('not written by gzx');
    return m;
  } catch (e) {
    throw new UserError(`${file} is not a gzx synthetic manifest (${(e as Error).message}). Delete the folder ${dir} or choose another one.`);
  }
}

async function exists(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    () => true,
    () => false,
  );
}

async function countJpegs(dir: string): Promise<number> {
  try {
    return (await fsp.readdir(dir)).filter((f) => f.endsWith('.jpg')).length;
  } catch {
    return -1;
  }
}

/** Does the folder still hold everything its manifest promises? */
async function isComplete(dir: string, m: SynthManifest): Promise<boolean> {
  if (!(await exists(path.join(dir, m.csv)))) return false;
  if ((await countJpegs(path.join(dir, m.images))) !== m.count) return false;
  if (m.testImages && (await countJpegs(path.join(dir, m.testImages))) !== m.testCount) return false;
  return true;
}

function describeManifest(m: Pick<SynthManifest, 'seed' | 'count' | 'size' | 'testCount' | 'version'>): string {
  return `seed ${m.seed}, count ${m.count}, size ${m.size}, test count ${m.testCount}, generator version ${m.version}`;
}

/**
 * Generates the dataset in `request.dir`, or reuses it when its synth.json matches.
 * `onProgress` is called about once a second while images are written; `onWait` once when
 * another process is generating the same folder (this call then waits for it and reuses its work).
 */
export async function writeSyntheticDataset(
  request: SynthRequest,
  onProgress?: (p: SynthProgress) => void,
  onWait?: (otherPid: number) => void,
): Promise<SynthResult> {
  validateRequest(request);
  const dir = path.resolve(request.dir);
  const params = {
    version: SYNTH_GENERATOR_VERSION,
    seed: request.seed,
    count: request.count,
    size: request.size,
    testCount: request.testCount ?? 0,
  };
  let waitedFor = 0;
  for (;;) {
    const reused = await reusable(dir, request);
    if (reused) return { dir, reused: true, manifest: reused, imagesPerSec: 0, elapsedSec: 0 };
    const other = await claim(dir);
    if (other === null) return generate(dir, params, onProgress);
    if (other > 0 && other !== waitedFor) onWait?.(other);
    waitedFor = other;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The folder's manifest when it already holds the requested data; throws when it holds other data. */
async function reusable(dir: string, request: SynthRequest): Promise<SynthManifest | null> {
  const existing = await readManifest(dir);
  if (existing) {
    // Only the generator version differs: same request, newer images; regenerate without asking.
    const sameRequest =
      existing.seed === request.seed &&
      existing.count === request.count &&
      existing.size === request.size &&
      (request.testCount === undefined || existing.testCount === request.testCount);
    if (sameRequest && existing.version === SYNTH_GENERATOR_VERSION && (await isComplete(dir, existing))) return existing;
    if (!sameRequest && !request.force) {
      const asked = { ...request, version: SYNTH_GENERATOR_VERSION, testCount: request.testCount ?? existing.testCount };
      throw new UserError(
        `${path.join(dir, MANIFEST_FILE)}: this folder holds a synthetic dataset made with ${describeManifest(existing)}, ` +
          `but ${describeManifest(asked)} was asked for. Choose another folder, delete this one, or pass --force to regenerate it.`,
      );
    }
  } else if (await exists(dir)) {
    const entries = await fsp.readdir(dir).catch(() => {
      throw new UserError(`${dir} exists but is not a readable folder. Choose another output folder.`);
    });
    if (entries.length > 0 && !entries.includes(PARTIAL_MARKER)) {
      throw new UserError(
        `${dir} is not empty and holds no ${MANIFEST_FILE}, so it is not a gzx synthetic dataset. ` +
          `Choose a new or empty folder; gzx will not write into other data.`,
      );
    }
  }
  return null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the folder for generation by creating the marker exclusively (it records our pid).
 * Returns null when we own it, or the pid of another live process that is generating it.
 * A marker left by a dead process (an interrupted generation) is taken over.
 */
async function claim(dir: string): Promise<number | null> {
  const marker = path.join(dir, PARTIAL_MARKER);
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`Cannot create the folder ${dir} (${(e as Error).message}). Check the path and its permissions.`);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(marker, JSON.stringify({ pid: process.pid }) + '\n', { flag: 'wx' });
      return null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UserError(`Cannot write to ${dir} (${(e as Error).message}). Check the folder's permissions.`);
      }
    }
    let pid = 0;
    try {
      pid = Number(JSON.parse(await fsp.readFile(marker, 'utf8')).pid) || 0;
    } catch {
      // Unreadable or old-style marker: treat as stale.
    }
    if (pid > 0 && pid !== process.pid && isAlive(pid)) return pid;
    await fsp.rm(marker, { force: true });
  }
  // Lost the race for a stale marker twice: someone else just took it.
  return -1;
}

async function generate(
  dir: string,
  params: { version: number; seed: number; count: number; size: number; testCount: number },
  onProgress?: (p: SynthProgress) => void,
): Promise<SynthResult> {
  const manifest: SynthManifest = {
    generator: 'gzx-synth',
    ...params,
    csv: SOLUTIONS_FILE,
    images: TRAIN_IMAGES_DIR,
    testImages: params.testCount > 0 ? TEST_IMAGES_DIR : null,
  };
  try {
    // Our own files only: an earlier (interrupted or different) synthetic dataset.
    for (const f of [MANIFEST_FILE, SOLUTIONS_FILE, TRAIN_IMAGES_DIR, TEST_IMAGES_DIR]) {
      await fsp.rm(path.join(dir, f), { recursive: true, force: true });
    }
    await fsp.mkdir(path.join(dir, TRAIN_IMAGES_DIR));
    if (manifest.testImages) await fsp.mkdir(path.join(dir, TEST_IMAGES_DIR));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`Cannot write the synthetic dataset to ${dir} (${(e as Error).message}). Check the path and its permissions.`);
  }

  const start = performance.now();
  const total = params.count + params.testCount;
  let done = 0;
  let lastReport = start;
  const report = (force: boolean) => {
    const now = performance.now();
    if (!onProgress || (!force && now - lastReport < 1000)) return;
    lastReport = now;
    onProgress({ done, total, elapsedSec: (now - start) / 1000 });
  };

  // Rendering runs on this thread while sharp encodes and the files are written in the background:
  // a few images in flight overlap the two without holding many decoded frames in memory.
  const inFlight = new Set<Promise<void>>();
  const maxInFlight = 4;
  const write = async (file: string, jpeg: Promise<Buffer>) => {
    await fsp.writeFile(file, await jpeg);
    done++;
    report(false);
  };
  const enqueue = async (task: Promise<void>) => {
    const p = task.finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
  };

  const ids: string[] = [];
  const rows: number[][] = [];
  try {
    for (let i = 0; i < params.count; i++) {
      const labels = syntheticLabels(params.seed, i);
      ids.push(syntheticId(i));
      rows.push(labels);
      const file = path.join(dir, TRAIN_IMAGES_DIR, `${syntheticId(i)}.jpg`);
      await enqueue(write(file, renderJpeg(labels, params.seed, STREAM_TRAIN_RENDER, i, params.size)));
    }
    for (let j = 0; j < params.testCount; j++) {
      const labels = sampleGalaxy(new SeededRng(deriveSeed(params.seed, STREAM_TEST_LABELS, j))).labels;
      const file = path.join(dir, TEST_IMAGES_DIR, `${syntheticId(params.count + j)}.jpg`);
      await enqueue(write(file, renderJpeg(labels, params.seed, STREAM_TEST_RENDER, j, params.size)));
    }
    await Promise.all(inFlight);
  } catch (e) {
    // Let the other writes settle so none rejects unobserved, then report the first failure.
    await Promise.allSettled([...inFlight]);
    throw new UserError(
      `Writing the synthetic dataset to ${dir} failed (${(e as Error).message}). Check free disk space and permissions, then run again.`,
    );
  }
  await writeSolutionsCsv(path.join(dir, SOLUTIONS_FILE), ids, rows);
  await fsp.writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  await fsp.rm(path.join(dir, PARTIAL_MARKER), { force: true });
  report(true);
  const elapsedSec = (performance.now() - start) / 1000;
  return { dir, reused: false, manifest, imagesPerSec: total / Math.max(elapsedSec, 1e-9), elapsedSec };
}
