// Every test-time view on every backend that loads: the views are resampled in the image pipeline
// (src/vision/pipeline/warp.ts), so the backend only runs the model and must agree with the cpu
// backend. The native backend is skipped when @tensorflow/tfjs-node is not set up, unless
// GZX_REQUIRE_NATIVE=1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { selectBackend, type BackendName } from '../../src/runtime/backend.js';
import type { RawImage } from '../../src/framework/contracts.js';
import { decodeForModel, loadPredictor, parseTtaSpec, predictImages, type TtaView } from '../../src/galaxy/predict.js';
import { readSolutionsCsv } from '../../src/galaxy/csv.js';
import { makeRunFolder, SAMPLE_DIR } from '../predict-tiny-run.js';
import { REPO, BIN } from '../helpers/paths.js';
import { nativeRequired } from '../helpers/native.js';

const ROOT = REPO;
const required = nativeRequired;
const DIELEMAN = 'rotations=10,scales=0.8333:1:1.2,flip';
const VIEW_TYPES: Record<string, TtaView[]> = {
  'right angle': [{ rotate: 90, flip: false, scale: 1 }],
  'other angle': [{ rotate: 36, flip: false, scale: 1 }],
  'zoom out': [{ rotate: 0, flip: false, scale: 0.8333 }],
  'zoom in': [{ rotate: 0, flip: false, scale: 1.2 }],
  mirror: [{ rotate: 0, flip: true, scale: 1 }],
  'Dieleman 60': parseTtaSpec(DIELEMAN),
};

let dir: string;
let runDir: string;
let images: RawImage[];
const reference: Record<string, Float32Array[]> = {};

async function predictAll(): Promise<Record<string, Float32Array[]>> {
  const predictor = await loadPredictor(runDir);
  try {
    return Object.fromEntries(Object.entries(VIEW_TYPES).map(([name, views]) => [name, predictImages(predictor, images, views)]));
  } finally {
    predictor.model.dispose();
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-tta-'));
  runDir = path.join(dir, 'run');
  await selectBackend('cpu', () => {});
  (await makeRunFolder(runDir, { crop: 256, size: 32 })).dispose();
  const ids = fs
    .readdirSync(SAMPLE_DIR)
    .filter((f) => f.endsWith('.jpg'))
    .slice(0, 3);
  images = await Promise.all(ids.map((f) => decodeForModel(path.join(SAMPLE_DIR, f), 256, 32)));
  Object.assign(reference, await predictAll());
});
afterAll(async () => {
  await selectBackend('cpu', () => {});
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Loads a backend, or says why not (null = loaded). */
async function tryBackend(name: BackendName): Promise<string | null> {
  try {
    await selectBackend(name, () => {});
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

describe.each(['wasm', 'tensorflow'] as BackendName[])('test-time views on the %s backend', (name) => {
  it('every view type runs and matches the cpu backend', async (ctx) => {
    const why = await tryBackend(name);
    if (why !== null) {
      if (name === 'tensorflow' && required) throw new Error(`GZX_REQUIRE_NATIVE=1 but the native backend does not load: ${why}`);
      ctx.skip();
    }
    const got = await predictAll();
    for (const [view, rows] of Object.entries(reference)) {
      expect(got[view], view).toHaveLength(rows.length);
      rows.forEach((row, i) => {
        const worst = Math.max(...row.map((v, c) => Math.abs(v - got[view][i][c])));
        expect(worst, `${view}, image ${i}`).toBeLessThan(1e-4);
      });
    }
    // The views differ from each other (a view that did nothing would pass the comparison too).
    expect(reference['other angle'][0]).not.toEqual(reference['zoom in'][0]);
  });
});

describe('gzx predict with the 60 Dieleman views', () => {
  it('runs from the CLI on the native backend when it loads (the raw RotateWithOffset error is gone)', async (ctx) => {
    const why = await tryBackend('tensorflow');
    if (why !== null) {
      if (required) throw new Error(`GZX_REQUIRE_NATIVE=1 but the native backend does not load: ${why}`);
      ctx.skip();
    }
    const imgs = path.join(dir, 'imgs');
    fs.mkdirSync(imgs);
    for (const f of fs
      .readdirSync(SAMPLE_DIR)
      .filter((f) => f.endsWith('.jpg'))
      .slice(0, 3))
      fs.copyFileSync(path.join(SAMPLE_DIR, f), path.join(imgs, f));
    const out = path.join(dir, 'sub.csv');
    const r = await promisify(execFile)(
      process.execPath,
      [BIN, 'predict', '-m', runDir, '-i', imgs, '-o', out, '--tta-views', DIELEMAN, '--backend', 'tensorflow'],
      {
        cwd: ROOT,
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
      },
    );
    expect(r.stdout).toMatch(/wrote .*sub\.csv: 3 rows \(crop 256, size 32, 60 views\)/);
    expect((await readSolutionsCsv(out)).rows).toHaveLength(3);
  }, 120_000);
});
