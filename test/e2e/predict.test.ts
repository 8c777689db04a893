import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  predictToCsv,
  predictImages,
  loadPredictor,
  listImages,
  decodeForModel,
  applyView,
  ttaViews,
  parseTtaSpec,
} from '../../src/galaxy/predict.js';
import { readSolutionsCsv } from '../../src/galaxy/csv.js';
import { CSV_HEADER, QUESTIONS } from '../../src/galaxy/tree.js';
import { UserError } from '../../src/base/errors.js';
import { makeRunFolder, SAMPLE_DIR } from '../predict-tiny-run.js';
import { REPO, BIN } from '../helpers/paths.js';
import { userError } from '../helpers/user-error.js';

const root = REPO;
let dir: string;
let runDir: string;
const sampleIds = fs
  .readdirSync(SAMPLE_DIR)
  .filter((f) => f.endsWith('.jpg'))
  .map((f) => f.replace('.jpg', ''));

/**
 * Each question sums to its parent weight. With `allowDead`, a question may instead be all zeros:
 * what the normalisation gives when every raw output of the question is <= 0.
 */
function expectObeysTree(rows: ArrayLike<number>[], allowDead = false) {
  for (const row of rows) {
    for (const q of QUESTIONS) {
      let sum = 0;
      for (let i = 0; i < q.answers.length; i++) sum += row[q.start + i];
      const weight = q.parent === null ? 1 : row[q.parent];
      if (allowDead && sum === 0) continue;
      expect(Math.abs(sum - weight)).toBeLessThan(1e-5);
    }
    for (let c = 0; c < row.length; c++) expect(row[c] >= 0 && row[c] <= 1).toBe(true);
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-predict-'));
  runDir = path.join(dir, 'runs', 'tiny');
  (await makeRunFolder(runDir, { crop: 256, size: 32 })).dispose();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('predictToCsv on the real sample JPEGs', () => {
  it('writes one Kaggle row per image, sorted by GalaxyID, obeying the tree; size and crop from config.yaml', async () => {
    const out = path.join(dir, 'submission.csv');
    const logs: string[] = [];
    const s = await predictToCsv({ model: runDir, images: SAMPLE_DIR, out, batchSize: 16, log: (m) => logs.push(m) });
    expect(s).toMatchObject({ images: sampleIds.length, size: 32, crop: 256, views: 1 });
    expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toBe(CSV_HEADER.join(','));
    const table = await readSolutionsCsv(out);
    expect(table.ids).toEqual([...sampleIds].sort((a, b) => Number(a) - Number(b)));
    expectObeysTree(table.rows);
    expect(logs.join('\n')).toContain(`${sampleIds.length}/${sampleIds.length} images`);
  });

  it('does not depend on the batch size', async () => {
    const a = path.join(dir, 'b64.csv');
    const b = path.join(dir, 'b7.csv');
    await predictToCsv({ model: runDir, images: SAMPLE_DIR, out: a, batchSize: 64 });
    await predictToCsv({ model: path.join(runDir, 'model'), images: SAMPLE_DIR, out: b, batchSize: 7 });
    const [ta, tb] = [await readSolutionsCsv(a), await readSolutionsCsv(b)];
    expect(tb.ids).toEqual(ta.ids);
    ta.rows.forEach((row, r) => row.forEach((v, c) => expect(Math.abs(v - tb.rows[r][c])).toBeLessThan(1e-5)));
  });

  it('leaks no tensors (80k test images must not grow memory)', async () => {
    const before = tf.memory().numTensors;
    await predictToCsv({ model: runDir, images: SAMPLE_DIR, out: path.join(dir, 'leak.csv'), batchSize: 16, tta: 3 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sorts ids numerically, not as text', async () => {
    const imgs = path.join(dir, 'numeric');
    fs.mkdirSync(imgs);
    const src = path.join(SAMPLE_DIR, `${sampleIds[0]}.jpg`);
    for (const id of ['1000', '9', '100', '10']) fs.copyFileSync(src, path.join(imgs, `${id}.jpg`));
    fs.writeFileSync(path.join(imgs, 'notes.txt'), 'not an image');
    expect((await listImages(imgs)).map((f) => f.id)).toEqual(['9', '10', '100', '1000']);
    const out = path.join(dir, 'numeric.csv');
    await predictToCsv({ model: runDir, images: imgs, out, batchSize: 3 });
    expect((await readSolutionsCsv(out)).ids).toEqual(['9', '10', '100', '1000']);
  });

  it('a model without the normalisation layer still gives rows that obey the tree (crop 0 = none)', async () => {
    const plainRun = path.join(dir, 'runs', 'plain');
    (await makeRunFolder(plainRun, { crop: 0, size: 24, normalise: false })).dispose();
    const out = path.join(dir, 'plain.csv');
    const s = await predictToCsv({ model: plainRun, images: SAMPLE_DIR, out, batchSize: 32 });
    expect(s).toMatchObject({ crop: null, size: 24 });
    // Its untrained raw outputs are negative half the time, so some questions are clipped to zeros.
    const rows = (await readSolutionsCsv(out)).rows;
    expectObeysTree(rows, true);
    expect(rows.filter((r) => Math.abs(r[0] + r[1] + r[2] - 1) < 1e-5).length).toBeGreaterThan(rows.length / 4);
  });
});

describe('test-time augmentation', () => {
  it('right-angle views are exact: four 90° turns give the input back, flip mirrors columns', () => {
    const x = { data: Uint8Array.from([1, 2, 3, 4]), width: 2, height: 2, channels: 1 };
    const r90 = applyView(x, { rotate: 90, flip: false, scale: 1 });
    expect(Array.from(r90.data)).toEqual([2, 4, 1, 3]);
    let y = x;
    for (let k = 0; k < 4; k++) y = applyView(y, { rotate: 90, flip: false, scale: 1 });
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(applyView(x, { rotate: 0, flip: true, scale: 1 }).data)).toEqual([2, 1, 4, 3]);
    expect(Array.from(applyView(x, { rotate: 180, flip: false, scale: 1 }).data)).toEqual([4, 3, 2, 1]);
    // Rotate, then mirror: 90° mirrored is the transpose.
    expect(Array.from(applyView(x, { rotate: 90, flip: true, scale: 1 }).data)).toEqual([4, 2, 3, 1]);
  });

  it('other angles turn about the centre, scales zoom about it with black sky outside', () => {
    // A bright bar along the x axis through the centre of a 33×33 image.
    const side = 33;
    const bar = { data: new Uint8Array(side * side), width: side, height: side, channels: 1 };
    for (let x = 4; x < side - 4; x++) bar.data[16 * side + x] = 255;
    const at = (img: { data: Uint8Array }, x: number, y: number) => img.data[y * side + x];
    const turned = applyView(bar, { rotate: 36, flip: false, scale: 1 });
    // Displayed counter-clockwise (y grows downwards): the bar's right end moves up.
    const r = 10;
    const t = (36 * Math.PI) / 180;
    expect(at(turned, Math.round(16 + r * Math.cos(t)), Math.round(16 - r * Math.sin(t)))).toBeGreaterThan(100);
    expect(at(turned, 16 + r, 16)).toBeLessThan(30);
    expect(at(turned, 16, 16)).toBe(255);
    // Zoom out by 1.2: the bar (ends at ±12 px) now ends at ±10 px.
    const out = applyView(bar, { rotate: 0, flip: false, scale: 1 / 1.2 });
    expect(at(out, 16 + 9, 16)).toBeGreaterThan(200);
    expect(at(out, 16 + 12, 16)).toBe(0);
    // Zoom in: a point 10 px out comes from 10/1.2 px out, so a white image stays white; zooming out by 2 leaves black corners.
    const white = { data: new Uint8Array(side * side).fill(255), width: side, height: side, channels: 1 };
    const shrunk = applyView(white, { rotate: 0, flip: false, scale: 0.5 });
    expect(at(shrunk, 16, 16)).toBe(255);
    expect(at(shrunk, 0, 0)).toBe(0);
    expect(applyView(white, { rotate: 0, flip: false, scale: 1.2 }).data.every((v) => v === 255)).toBe(true);
  });

  it('averaging the 8 right-angle views makes the prediction invariant to rotating the galaxy', async () => {
    const predictor = await loadPredictor(runDir);
    const image = await decodeForModel(path.join(SAMPLE_DIR, `${sampleIds[3]}.jpg`), predictor.crop, predictor.size);
    const rotatedImage = applyView(image, { rotate: 90, flip: false, scale: 1 });
    const one = [predictImages(predictor, [image], ttaViews(1))[0], predictImages(predictor, [rotatedImage], ttaViews(1))[0]];
    const eight = [predictImages(predictor, [image], ttaViews(8))[0], predictImages(predictor, [rotatedImage], ttaViews(8))[0]];
    const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    expect(maxDiff(one[0], one[1])).toBeGreaterThan(1e-4); // a random CNN is not rotation invariant…
    expect(maxDiff(eight[0], eight[1])).toBeLessThan(1e-5); // …but its 8-view average is
    expectObeysTree(eight);
    predictor.model.dispose();
  });

  it('view sets: N ≤ 8 right angles, larger even N rotations × mirror, Dieleman 60', () => {
    expect(ttaViews(2)).toEqual([
      { rotate: 0, flip: false, scale: 1 },
      { rotate: 0, flip: true, scale: 1 },
    ]);
    expect(ttaViews(12).map((v) => v.rotate)).toEqual([0, 0, 60, 60, 120, 120, 180, 180, 240, 240, 300, 300]);
    const dieleman = parseTtaSpec('rotations=10,scales=0.8333:1:1.2,flip');
    expect(dieleman).toHaveLength(60);
    expect(new Set(dieleman.map((v) => v.rotate)).size).toBe(10);
    expect(() => ttaViews(9)).toThrow(UserError);
    expect(() => parseTtaSpec('rotations=ten')).toThrow(/cannot read "rotations=ten"/);
    expect(() => parseTtaSpec('scales=1:-2')).toThrow(/positive numbers/);
  });

  it('--tta with arbitrary angles and scales runs through the model and still obeys the tree', async () => {
    const imgs = path.join(dir, 'tta');
    fs.mkdirSync(imgs);
    for (const id of sampleIds.slice(0, 3)) fs.copyFileSync(path.join(SAMPLE_DIR, `${id}.jpg`), path.join(imgs, `${id}.jpg`));
    const out = path.join(dir, 'tta.csv');
    const s = await predictToCsv({ model: runDir, images: imgs, out, tta: parseTtaSpec('rotations=3,scales=0.9:1.1,flip') });
    expect(s.views).toBe(12);
    expectObeysTree((await readSolutionsCsv(out)).rows);
  });
});

describe('predict mistakes are UserErrors', () => {
  it('missing model path', async () => {
    const msg = await userError(predictToCsv({ model: path.join(dir, 'nope'), images: SAMPLE_DIR, out: path.join(dir, 'x.csv') }));
    expect(msg).toContain('nope does not exist');
  });

  it('model folder without config.yaml and no --size', async () => {
    const bare = path.join(dir, 'bare-model');
    fs.cpSync(path.join(runDir, 'model'), bare, { recursive: true });
    const msg = await userError(predictToCsv({ model: bare, images: SAMPLE_DIR, out: path.join(dir, 'x.csv') }));
    expect(msg).toContain('Pass --size');
    // …and with --size it works.
    const imgs = path.join(dir, 'numeric');
    const s = await predictToCsv({ model: bare, images: imgs, out: path.join(dir, 'bare.csv'), size: 20 });
    expect(s).toMatchObject({ size: 20, crop: null });
  });

  it('folder without model.json', async () => {
    const msg = await userError(predictToCsv({ model: SAMPLE_DIR, images: SAMPLE_DIR, out: path.join(dir, 'x.csv') }));
    expect(msg).toContain('model.json');
  });

  it('missing and empty image folders', async () => {
    expect(await userError(predictToCsv({ model: runDir, images: path.join(dir, 'no-images'), out: path.join(dir, 'x.csv') }))).toContain(
      'no-images does not exist',
    );
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    expect(await userError(predictToCsv({ model: runDir, images: empty, out: path.join(dir, 'x.csv') }))).toContain('holds no .jpg');
  });

  it('a corrupt JPEG names the file, and no partial submission is left', async () => {
    const imgs = path.join(dir, 'corrupt');
    fs.mkdirSync(imgs);
    for (const id of sampleIds.slice(0, 4)) fs.copyFileSync(path.join(SAMPLE_DIR, `${id}.jpg`), path.join(imgs, `${id}.jpg`));
    const bytes = fs.readFileSync(path.join(SAMPLE_DIR, `${sampleIds[5]}.jpg`));
    fs.writeFileSync(path.join(imgs, '999999.jpg'), bytes.subarray(0, Math.floor(bytes.length / 3)));
    const out = path.join(dir, 'corrupt.csv');
    const msg = await userError(predictToCsv({ model: runDir, images: imgs, out, batchSize: 2 }));
    expect(msg).toContain('999999.jpg cannot be decoded');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(out + '.partial')).toBe(false);
  });

  it('output folder that does not exist', async () => {
    const msg = await userError(predictToCsv({ model: runDir, images: SAMPLE_DIR, out: path.join(dir, 'nodir', 's.csv') }));
    expect(msg).toContain('does not exist');
  });
});

describe('gzx predict (compiled CLI)', () => {
  const run = (args: string[]) =>
    promisify(execFile)('node', [BIN, 'predict', ...args], { cwd: root }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
    );

  it('writes the submission and reports the rate', async () => {
    const out = path.join(dir, 'cli.csv');
    const r = await run(['--model', runDir, '--images', path.join(dir, 'numeric'), '--out', out, '--tta', '2', '--backend', 'cpu']);
    expect(r.stderr).toContain('predicting 4 images');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*cli\.csv: 4 rows \(crop 256, size 32, 2 views\)/);
    expect((await readSolutionsCsv(out)).ids).toEqual(['9', '10', '100', '1000']);
  });

  it('a mistake prints one line and exits 1', async () => {
    const r = await run(['--model', path.join(dir, 'nope'), '--images', SAMPLE_DIR, '--out', path.join(dir, 'y.csv'), '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope does not exist');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
