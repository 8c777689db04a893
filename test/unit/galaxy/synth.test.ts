import path from 'node:path';
import os from 'node:os';
import fsp from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { newServiceContainer } from '../../../src/framework/services.js';
import * as tf from '@tensorflow/tfjs';
import { SeededRng, deriveSeed } from '../../../src/base/random.js';
import { UserError } from '../../../src/base/errors.js';
import type { RawImage } from '../../../src/framework/contracts.js';
import type { PluginContext } from '../../../src/framework/plugin.js';
import { NUM_COLUMNS, QUESTIONS, normaliseAnswers } from '../../../src/galaxy/tree.js';
import { sampleGalaxy, type SampledGalaxy } from '../../../src/galaxy/synth/labels.js';
import { conditional } from '../../../src/galaxy/synth/appearance.js';
import { renderGalaxy } from '../../../src/galaxy/synth/render.js';
import { writeSyntheticDataset } from '../../../src/galaxy/synth/dataset.js';
import { readSolutionsCsv } from '../../../src/galaxy/csv.js';
import { syntheticData } from '../../../src/plugins/data/synthetic.js';

const galaxies = (seed: number, n: number): SampledGalaxy[] =>
  Array.from({ length: n }, (_, i) => sampleGalaxy(new SeededRng(deriveSeed(seed, 1, i))));

const made: string[] = [];
async function tmpDir(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gzx-synth-'));
  made.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(made.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out.set(path.relative(dir, full), await fsp.readFile(full));
  }
  return out;
}

/** Light above the sky inside the central disk of radius 0.2·size (field stars are kept outside it). */
function shape(img: RawImage): { axisRatio: number; halfLightRadius: number; peak: number; area: number; coreArea: number } {
  const { width: w, height: h, data } = img;
  const lum = (x: number, y: number) => (data[(y * w + x) * 3] + data[(y * w + x) * 3 + 1] + data[(y * w + x) * 3 + 2]) / 3;
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(lum(x, 0), lum(x, h - 1));
  border.sort((a, b) => a - b);
  const sky = border[border.length >> 1];
  const pts: { x: number; y: number; v: number }[] = [];
  let peak = 0;
  let coreArea = 0;
  const r0 = 0.2 * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if ((x - w / 2) ** 2 + (y - h / 2) ** 2 > r0 * r0) continue;
      const v = lum(x, y) - sky;
      peak = Math.max(peak, lum(x, y));
      if (v > 15) pts.push({ x, y, v });
      if (v > 150) coreArea++;
    }
  }
  const tot = pts.reduce((s, p) => s + p.v, 0);
  const mx = pts.reduce((s, p) => s + p.v * p.x, 0) / tot;
  const my = pts.reduce((s, p) => s + p.v * p.y, 0) / tot;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (const p of pts) {
    sxx += p.v * (p.x - mx) ** 2;
    syy += p.v * (p.y - my) ** 2;
    sxy += p.v * (p.x - mx) * (p.y - my);
  }
  const tr = (sxx + syy) / tot;
  const det = (sxx * syy - sxy * sxy) / (tot * tot);
  const disc = Math.sqrt(Math.max(0, (tr * tr) / 4 - det));
  const l1 = tr / 2 + disc;
  const l2 = Math.max(0, tr / 2 - disc);
  const radii = pts.map((p) => ({ r: Math.hypot(p.x - mx, p.y - my), v: p.v })).sort((a, b) => a.r - b.r);
  let acc = 0;
  let halfLightRadius = 0;
  for (const p of radii) {
    acc += p.v;
    if (acc >= tot / 2) {
      halfLightRadius = p.r;
      break;
    }
  }
  return { axisRatio: Math.sqrt(l2 / l1), halfLightRadius, peak, area: pts.length, coreArea };
}

function pearson(a: number[], b: number[]): number {
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const render = (labels: number[], i: number, size = 212) => renderGalaxy(labels, new SeededRng(deriveSeed(11, 2, i)), { size });

describe('synthetic labels', () => {
  const rows = galaxies(1, 3000);

  it('are deterministic in the seed', () => {
    expect(galaxies(1, 50)).toEqual(rows.slice(0, 50));
    expect(galaxies(2, 50)[0].labels).not.toEqual(rows[0].labels);
  });

  it('obey the decision tree to 1e-9 (question sums equal their parent answer)', () => {
    let worst = 0;
    for (const { labels } of rows) {
      expect(labels).toHaveLength(NUM_COLUMNS);
      const again = normaliseAnswers([labels])[0];
      for (let c = 0; c < NUM_COLUMNS; c++) worst = Math.max(worst, Math.abs(again[c] - labels[c]));
      for (const q of QUESTIONS) {
        const sum = q.answers.reduce((s, _, i) => s + labels[q.start + i], 0);
        worst = Math.max(worst, Math.abs(sum - (q.parent === null ? 1 : labels[q.parent])));
      }
      expect(Math.min(...labels)).toBeGreaterThanOrEqual(0);
    }
    expect(worst).toBeLessThan(1e-9);
  });

  it('every column varies across the dataset, and fractions are soft', () => {
    for (let c = 0; c < NUM_COLUMNS; c++) {
      const v = rows.map((r) => r.labels[c]);
      const mean = v.reduce((s, x) => s + x, 0) / v.length;
      const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
      expect(sd, `column ${c}`).toBeGreaterThan(0.05);
      expect(Math.max(...v), `column ${c}`).toBeGreaterThan(0.5);
    }
    // Volunteers disagree: most Q1 winners get well under 100 % of the votes.
    const winners = rows.map((r) => Math.max(r.labels[0], r.labels[1], r.labels[2]));
    expect(median(winners)).toBeLessThan(0.95);
    expect(median(winners)).toBeGreaterThan(0.6);
  });
});

describe('synthetic images express their labels', () => {
  const rows = galaxies(3, 400);

  it('Q7 alone sets the axis ratio of a smooth galaxy (same nuisance draws)', () => {
    const smooth = rows.find((g) => g.type === 'smooth' && g.labels[13] < 0.3)!;
    const q7 = QUESTIONS[6];
    const withQ7 = (fractions: number[]) => {
      const l = [...smooth.labels];
      fractions.forEach((f, i) => (l[q7.start + i] = f * smooth.labels[0]));
      return l;
    };
    for (let i = 0; i < 3; i++) {
      const round = shape(render(withQ7([1, 0, 0]), i)).axisRatio;
      const cigar = shape(render(withQ7([0, 0, 1]), i)).axisRatio;
      expect(round).toBeGreaterThan(0.8);
      expect(cigar).toBeLessThan(0.55);
    }
  });

  it('measured axis ratio of smooth galaxies correlates with Q7 roundness', () => {
    const smooth = rows.filter((g) => g.type === 'smooth' && g.labels[13] < 0.3).slice(0, 60);
    const roundness = smooth.map((g) => {
      const c = conditional(g.labels, 7);
      return c[0] + 0.5 * c[1];
    });
    const measured = smooth.map((g, i) => shape(render(g.labels, i)).axisRatio);
    expect(pearson(roundness, measured)).toBeGreaterThan(0.6);
  });

  it('edge-on disks are elongated, face-on disks are not', () => {
    const edge = rows.filter((g) => g.type === 'edge-on' && g.labels[13] < 0.3).slice(0, 25);
    const face = rows.filter((g) => g.type === 'disk' && g.labels[13] < 0.3).slice(0, 25);
    const edgeRatios = edge.map((g, i) => shape(render(g.labels, i)).axisRatio);
    const faceRatios = face.map((g, i) => shape(render(g.labels, i)).axisRatio);
    expect(median(edgeRatios)).toBeLessThan(0.5);
    expect(median(faceRatios)).toBeGreaterThan(0.6);
    expect(median(faceRatios) - median(edgeRatios)).toBeGreaterThan(0.2);
  });

  it('galaxies are centred and mostly inside the central 224 of 424 pixels', () => {
    const offsets: number[] = [];
    const shares = rows
      .filter((g) => g.type !== 'star')
      .slice(0, 30)
      .map((g, i) => {
        const { data } = render(g.labels, i, 424);
        let inside = 0;
        let total = 0;
        let sx = 0;
        let sy = 0;
        for (let y = 0; y < 424; y++) {
          for (let x = 0; x < 424; x++) {
            const j = (y * 424 + x) * 3;
            const v = Math.max(0, (data[j] + data[j + 1] + data[j + 2]) / 3 - 20);
            total += v;
            sx += v * x;
            sy += v * y;
            if (x >= 100 && x < 324 && y >= 100 && y < 324) inside += v;
          }
        }
        offsets.push(Math.hypot(sx / total - 212, sy / total - 212));
        return inside / total;
      });
    // Light-weighted centroids move a little with field stars and merger companions.
    expect(median(offsets)).toBeLessThan(10);
    expect(median(shares)).toBeGreaterThan(0.9);
    expect(Math.min(...shares)).toBeGreaterThan(0.7);
  });

  it('stars are a tiny bright core (plus thin spikes); galaxies are extended with larger cores', () => {
    const stars = rows.filter((g) => g.type === 'star' && g.labels[2] > 0.5).slice(0, 10);
    const others = rows.filter((g) => g.type !== 'star').slice(0, 30);
    expect(stars.length).toBeGreaterThan(3);
    for (const [i, g] of stars.entries()) {
      const s = shape(render(g.labels, i, 424));
      expect(s.peak).toBeGreaterThan(200);
      expect(s.coreArea).toBeLessThan(150);
      expect(s.area).toBeLessThan(1500);
    }
    const galaxies = others.map((g, i) => shape(render(g.labels, i, 424)));
    expect(median(galaxies.map((s) => s.area))).toBeGreaterThan(3000);
    expect(median(galaxies.map((s) => s.coreArea))).toBeGreaterThan(250);
    expect(median(galaxies.map((s) => s.halfLightRadius))).toBeGreaterThan(12);
  });
});

describe('synthetic dataset writer', () => {
  it('same seed → same bytes (CSV, JPEGs, manifest); another seed → other labels', async () => {
    const [a, b, c] = [await tmpDir(), await tmpDir(), await tmpDir()];
    const req = { count: 12, size: 96, seed: 5, testCount: 3 };
    await writeSyntheticDataset({ ...req, dir: a });
    await writeSyntheticDataset({ ...req, dir: b });
    await writeSyntheticDataset({ ...req, seed: 6, dir: c });
    const fa = await filesOf(a);
    const fb = await filesOf(b);
    expect(fa.size).toBe(12 + 3 + 2);
    expect([...fa.keys()].sort()).toEqual([...fb.keys()].sort());
    for (const [k, v] of fa) expect(v.equals(fb.get(k)!), k).toBe(true);
    expect(fa.get('images_training_rev1/100000.jpg')!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(fa.has('images_test_rev1/100012.jpg')).toBe(true);
    const csv = await readSolutionsCsv(path.join(a, 'training_solutions_rev1.csv'));
    expect(csv.ids).toEqual(Array.from({ length: 12 }, (_, i) => String(100000 + i)));
    const other = await readSolutionsCsv(path.join(c, 'training_solutions_rev1.csv'));
    expect(other.rows[0]).not.toEqual(csv.rows[0]);
    const meta = await sharp(fa.get('images_training_rev1/100003.jpg')!).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([96, 96, 3]);
  });

  it('reuses a matching folder, refuses a different or foreign one, regenerates an interrupted one', async () => {
    const dir = await tmpDir();
    const first = await writeSyntheticDataset({ dir, count: 4, size: 64, seed: 1 });
    expect(first.reused).toBe(false);
    const before = (await fsp.stat(path.join(dir, 'images_training_rev1', '100000.jpg'))).mtimeMs;
    const again = await writeSyntheticDataset({ dir, count: 4, size: 64, seed: 1 });
    expect(again.reused).toBe(true);
    expect((await fsp.stat(path.join(dir, 'images_training_rev1', '100000.jpg'))).mtimeMs).toBe(before);

    const mismatch = await writeSyntheticDataset({ dir, count: 5, size: 64, seed: 1 }).catch((e) => e);
    expect(mismatch).toBeInstanceOf(UserError);
    expect(mismatch.message).toContain('count 4');
    expect(mismatch.message).toContain('--force');
    const forced = await writeSyntheticDataset({ dir, count: 5, size: 64, seed: 1, force: true });
    expect(forced.reused).toBe(false);
    expect(await fsp.readdir(path.join(dir, 'images_training_rev1'))).toHaveLength(5);

    // A folder from an older generator version with the same request: regenerated, not refused.
    const manifestFile = path.join(dir, 'synth.json');
    const manifest = JSON.parse(await fsp.readFile(manifestFile, 'utf8'));
    await fsp.writeFile(manifestFile, JSON.stringify({ ...manifest, version: manifest.version - 1 }));
    const upgraded = await writeSyntheticDataset({ dir, count: 5, size: 64, seed: 1 });
    expect(upgraded.reused).toBe(false);
    expect(upgraded.manifest.version).toBe(manifest.version);

    // Images deleted behind our back: regenerated rather than trusted.
    await fsp.rm(path.join(dir, 'images_training_rev1', '100002.jpg'));
    expect((await writeSyntheticDataset({ dir, count: 5, size: 64, seed: 1 })).reused).toBe(false);

    const foreign = await tmpDir();
    await fsp.writeFile(path.join(foreign, 'notes.txt'), 'mine');
    const refused = await writeSyntheticDataset({ dir: foreign, count: 2, size: 64, seed: 1 }).catch((e) => e);
    expect(refused).toBeInstanceOf(UserError);
    expect(refused.message).toContain(foreign);
    expect(await fsp.readFile(path.join(foreign, 'notes.txt'), 'utf8')).toBe('mine');

    const partial = await tmpDir();
    await fsp.writeFile(path.join(partial, '.synth-incomplete'), '');
    await fsp.mkdir(path.join(partial, 'images_training_rev1'));
    await fsp.writeFile(path.join(partial, 'images_training_rev1', '100000.jpg'), 'truncated');
    expect((await writeSyntheticDataset({ dir: partial, count: 2, size: 64, seed: 1 })).reused).toBe(false);
    expect(await fsp.readdir(partial)).not.toContain('.synth-incomplete');
  });

  it("waits while another live process generates the folder, then takes over a dead one's marker", async () => {
    const dir = await tmpDir();
    const other = spawn('sleep', ['2']);
    await fsp.writeFile(path.join(dir, '.synth-incomplete'), JSON.stringify({ pid: other.pid }));
    const waitedFor: number[] = [];
    const start = Date.now();
    const result = await writeSyntheticDataset({ dir, count: 2, size: 64, seed: 1 }, undefined, (pid) => waitedFor.push(pid));
    expect(waitedFor).toEqual([other.pid]);
    expect(Date.now() - start).toBeGreaterThan(1000);
    expect(result.reused).toBe(false);
    expect(await fsp.readdir(path.join(dir, 'images_training_rev1'))).toHaveLength(2);
  });

  it('reports progress and rejects bad requests with the fix', async () => {
    const dir = await tmpDir();
    const seen: number[] = [];
    await writeSyntheticDataset({ dir, count: 3, size: 64, seed: 2 }, (p) => seen.push(p.done));
    expect(seen.at(-1)).toBe(3);
    await expect(writeSyntheticDataset({ dir, count: 0, size: 64, seed: 2 })).rejects.toThrow(/--count/);
    await expect(writeSyntheticDataset({ dir, count: 2, size: 8, seed: 2 })).rejects.toThrow(/size 8/);
  });
});

function ctx(configDir: string, seed: number, log: (m: string) => void = () => undefined): PluginContext {
  return { tf, seed, runDir: os.tmpdir(), configDir, log, container: newServiceContainer() };
}

/** Centre crop (as the real data's 224 of 424), 16×16 area-averaged RGB in [0, 1] plus a bias term. */
async function features(file: string, crop: number): Promise<number[]> {
  const meta = await sharp(file).metadata();
  const off = Math.floor((meta.width! - crop) / 2);
  const { data } = await sharp(file)
    .extract({ left: off, top: off, width: crop, height: crop })
    .resize(16, 16, { kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return [...data].map((v) => v / 255).concat(1);
}

/** Ridge regression by the normal equations (Cholesky); small enough to write out here. */
function ridge(x: number[][], y: number[][], lambda: number): number[][] {
  const d = x[0].length;
  const a = Array.from({ length: d }, () => new Float64Array(d));
  for (const row of x) for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) a[i][j] += row[i] * row[j];
  for (let i = 0; i < d; i++) a[i][i] += lambda;
  // In-place Cholesky: lower triangle of `a` becomes L.
  for (let j = 0; j < d; j++) {
    let s = a[j][j];
    for (let k = 0; k < j; k++) s -= a[j][k] * a[j][k];
    a[j][j] = Math.sqrt(s);
    for (let i = j + 1; i < d; i++) {
      let t = a[i][j];
      for (let k = 0; k < j; k++) t -= a[i][k] * a[j][k];
      a[i][j] = t / a[j][j];
    }
  }
  return y[0].map((_, c) => {
    const b = new Float64Array(d);
    x.forEach((row, n) => row.forEach((v, i) => (b[i] += v * y[n][c])));
    for (let i = 0; i < d; i++) {
      let t = b[i];
      for (let k = 0; k < i; k++) t -= a[i][k] * b[k];
      b[i] = t / a[i][i];
    }
    for (let i = d - 1; i >= 0; i--) {
      let t = b[i];
      for (let k = i + 1; k < d; k++) t -= a[k][i] * b[k];
      b[i] = t / a[i][i];
    }
    return [...b];
  });
}

describe('synthetic data plugin', () => {
  it('generates once, then reuses, and reads the folder with the Kaggle loader', async () => {
    const dir = await tmpDir();
    const logs: string[] = [];
    const opts = {
      dir: 'twin',
      count: 20,
      size: 64,
      seed: null,
      crop: 'auto' as const,
      valid_fraction: 0.25,
      split_seed: null,
      limit: 0,
      on_bad_image: 'fail' as const,
    };
    const source = await syntheticData.create(
      opts,
      ctx(dir, 9, (m) => logs.push(m)),
    );
    const splits = await source.prepare();
    expect(splits.train).toHaveLength(15);
    expect(splits.valid).toHaveLength(5);
    expect(splits.crop).toBe(34); // round(64·224/424)
    expect(splits.badImagePolicy).toBe('fail');
    expect(splits.train[0].imagePath.startsWith(path.join(dir, 'twin', 'images_training_rev1'))).toBe(true);
    expect(logs.at(-1)).toMatch(/wrote 20 images/);
    const again = await (
      await syntheticData.create(
        opts,
        ctx(dir, 9, (m) => logs.push(m)),
      )
    ).prepare();
    expect(logs.at(-1)).toMatch(/reusing/);
    expect(again.fingerprint).toBe(splits.fingerprint);
    expect(JSON.parse(await fsp.readFile(path.join(dir, 'twin', 'synth.json'), 'utf8')).seed).toBe(9);
  });

  it('labels are in the pixels: ridge regression on 16×16 crops beats the column-mean baseline', async () => {
    const dir = await tmpDir();
    const source = await syntheticData.create(
      { dir, count: 1000, size: 212, seed: 4, crop: 'auto', valid_fraction: 0.2, split_seed: null, limit: 0, on_bad_image: 'fail' },
      ctx(dir, 4),
    );
    const { train, valid, crop } = await source.prepare();
    expect(crop).toBe(112);
    const xTrain = await Promise.all(train.map((s) => features(s.imagePath, crop!)));
    const xValid = await Promise.all(valid.map((s) => features(s.imagePath, crop!)));
    const yTrain = train.map((s) => [...s.labels!]);
    const yValid = valid.map((s) => [...s.labels!]);
    const w = ridge(xTrain, yTrain, 3);
    const means = yTrain[0].map((_, c) => yTrain.reduce((s, r) => s + r[c], 0) / yTrain.length);
    let seModel = 0;
    let seBase = 0;
    xValid.forEach((x, n) => {
      for (let c = 0; c < NUM_COLUMNS; c++) {
        const pred = x.reduce((s, v, i) => s + v * w[c][i], 0);
        seModel += (pred - yValid[n][c]) ** 2;
        seBase += (means[c] - yValid[n][c]) ** 2;
      }
    });
    const rmseModel = Math.sqrt(seModel / (valid.length * NUM_COLUMNS));
    const rmseBase = Math.sqrt(seBase / (valid.length * NUM_COLUMNS));
    console.log(`ridge on 16×16 pixels: valid RMSE ${rmseModel.toFixed(4)} vs column-mean baseline ${rmseBase.toFixed(4)}`);
    expect(rmseModel).toBeLessThan(0.85 * rmseBase);
  });
});
