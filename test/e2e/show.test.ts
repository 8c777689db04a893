import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { showResults, resultsGrid, cellCaption, wrapText, type GridCell } from '../../src/galaxy/show.js';
import { writeSolutionsCsv } from '../../src/galaxy/csv.js';
import { COLUMNS, NUM_COLUMNS, normaliseAnswers } from '../../src/galaxy/tree.js';
import { makeRunFolder, SAMPLE_DIR } from '../predict-tiny-run.js';
import { REAL_LIKE_LABEL } from '../fixtures/csv/galaxy-rows.js';
import { REPO, BIN } from '../helpers/paths.js';
import { userError } from '../helpers/user-error.js';

const root = REPO;
let dir: string;
let runDir: string;
let truthCsv: string;
const ids = fs
  .readdirSync(SAMPLE_DIR)
  .filter((f) => f.endsWith('.jpg'))
  .map((f) => f.replace('.jpg', ''))
  .sort((a, b) => Number(a) - Number(b));

function smoothRow(): number[] {
  const raw = new Array<number>(NUM_COLUMNS).fill(0);
  for (const [c, v] of Object.entries({ 'Class1.1': 0.8, 'Class1.2': 0.2, 'Class7.1': 1, 'Class6.2': 1 })) raw[COLUMNS.indexOf(c)] = v;
  return normaliseAnswers([raw])[0];
}

/** Share of pixels in a region that are not (near) white. */
async function inkShare(png: Buffer, left: number, top: number, width: number, height: number): Promise<number> {
  const { data, info } = await sharp(png).extract({ left, top, width, height }).raw().toBuffer({ resolveWithObject: true });
  let ink = 0;
  for (let i = 0; i < data.length; i += info.channels) if (data[i] + data[i + 1] + data[i + 2] < 600) ink++;
  return ink / (width * height);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-show-'));
  runDir = path.join(dir, 'run');
  (await makeRunFolder(runDir, { crop: 256, size: 32 })).dispose();
  // Truth for the 2nd, 3rd and 5th sample images only.
  truthCsv = path.join(dir, 'truth.csv');
  await writeSolutionsCsv(truthCsv, [ids[1], ids[2], ids[4]], [REAL_LIKE_LABEL, smoothRow(), REAL_LIKE_LABEL]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('captions', () => {
  it('wrapText keeps words whole and within the width', () => {
    expect(wrapText('features/disk, not edge-on, no bar, spiral', 16)).toEqual(['features/disk,', 'not edge-on, no', 'bar, spiral']);
    expect(wrapText('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
  });

  it('shows id, RMSE, true answers and predicted answers in words; colour by Q1 agreement', () => {
    const right: GridCell = {
      id: '42',
      image: { data: new Uint8Array(3), width: 1, height: 1, channels: 3 },
      predicted: smoothRow(),
      truth: smoothRow(),
    };
    const lines = cellCaption(right, 200);
    expect(lines[0].text).toBe('42 · RMSE 0.000');
    expect(lines[1].text).toBe('true: smooth, completely round; nothing odd');
    expect(lines[2].text).toBe('pred: smooth 80%, completely round 100%; nothing odd 100%');
    expect(lines[2].colour).toBe('#1a7f2e');
    const wrong = cellCaption({ ...right, truth: REAL_LIKE_LABEL }, 200);
    expect(wrong[1].text).toContain('true: features/disk, not edge-on');
    expect(wrong[2].colour).toBe('#b3261e');
    const unlabelled = cellCaption({ ...right, truth: undefined }, 200);
    expect(unlabelled.map((l) => l.text)).toEqual(['42', 'pred: smooth 80%, completely round 100%; nothing odd 100%']);
  });
});

describe('resultsGrid', () => {
  it('lays out images and rendered captions in a grid PNG', async () => {
    const grey = { data: new Uint8Array(20 * 20 * 3).fill(40), width: 20, height: 20, channels: 3 };
    const cells: GridCell[] = Array.from({ length: 5 }, (_, i) => ({ id: String(i), image: grey, predicted: smoothRow(), truth: REAL_LIKE_LABEL }));
    const png = await resultsGrid(cells, { columns: 3, cellSize: 100 });
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(8 + 3 * 108); // 3 columns of image + padding
    // The first image is drawn where expected (dark), and its caption has ink (fonts render).
    expect(await inkShare(png, 8, 8, 100, 100)).toBe(1);
    expect(await inkShare(png, 8, 112, 100, 40)).toBeGreaterThan(0.02);
    // Right of the last cell in row 2 nothing is drawn.
    expect(await inkShare(png, 8 + 2 * 108, meta.height! - 60, 100, 50)).toBe(0);
  });
});

describe('showResults on the real sample JPEGs', () => {
  it('with --truth shows only labelled galaxies, with their RMSE', async () => {
    const out = path.join(dir, 'grid.png');
    const s = await showResults({ model: runDir, images: SAMPLE_DIR, truth: truthCsv, out, n: 16, cellSize: 96 });
    expect(s.shown).toBe(3);
    expect(s.rmse).toBeGreaterThan(0);
    expect(s.rmse).toBeLessThan(1);
    const meta = await sharp(out).metadata();
    expect(meta.width).toBe(8 + 2 * 104); // ceil(sqrt(3)) = 2 columns
  });

  it('without truth shows the first n images', async () => {
    const out = path.join(dir, 'grid4.png');
    const s = await showResults({ model: runDir, images: SAMPLE_DIR, out, n: 4, columns: 4, cellSize: 64 });
    expect(s).toMatchObject({ shown: 4, rmse: undefined });
    // The galaxies are drawn: each tile has a mix of dark sky and bright galaxy, not blank paper.
    const png = fs.readFileSync(out);
    expect(await inkShare(png, 8, 8, 64, 64)).toBeGreaterThan(0.5);
  });

  it('truth CSV that matches none of the images is a UserError', async () => {
    const other = path.join(dir, 'other-truth.csv');
    await writeSolutionsCsv(other, ['1', '2'], [REAL_LIKE_LABEL, REAL_LIKE_LABEL]);
    const msg = await userError(showResults({ model: runDir, images: SAMPLE_DIR, truth: other, out: path.join(dir, 'g.png') }));
    expect(msg).toContain('None of the images');
    expect(msg).toContain('other-truth.csv');
  });

  it('an output folder that does not exist is a UserError', async () => {
    const msg = await userError(showResults({ model: runDir, images: SAMPLE_DIR, out: path.join(dir, 'missing', 'g.png'), n: 1 }));
    expect(msg).toContain('does not exist');
  });
});

describe('gzx show (compiled CLI)', () => {
  it('writes the grid', async () => {
    const out = path.join(dir, 'cli-grid.png');
    const r = await promisify(execFile)(
      'node',
      [BIN, 'show', '--model', runDir, '--images', SAMPLE_DIR, '--truth', truthCsv, '--out', out, '--backend', 'cpu'],
      { cwd: root },
    );
    expect(r.stdout).toMatch(/wrote .*cli-grid\.png: 3 galaxies, RMSE 0\.\d{4} on them/);
    expect((await sharp(out).metadata()).format).toBe('png');
  });
});
