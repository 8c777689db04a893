// The image pipeline against the real sample JPEGs. Worker tests load dist/ (built by `npm test`'s pretest).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { Sample } from '../../../src/framework/contracts.js';
import type { PluginRef } from '../../../src/framework/experiment-config.js';
import {
  ImagePipeline,
  autoCachePlan,
  compiledModuleFor,
  decodeImage,
  imageWorkerCount,
  toFloat,
  type Batch,
  type PipelineOptions,
} from '../../../src/vision/pipeline/index.js';
import { BadImageError, jpegShrinkOnLoad, jpegSize, planCentreCrop } from '../../../src/vision/pipeline/decode.js';
import { diskCacheDir } from '../../../src/vision/pipeline/cache.js';
import { TurboJpeg, scaledSide } from '../../../src/vision/pipeline/jpeg-turbo.js';

import { SAMPLE_DIR } from '../../helpers/samples.js';
import { REPO } from '../../helpers/paths.js';
const ROOT = REPO;
const BUILTIN = pathToFileURL(path.join(ROOT, 'dist/plugins/index.js')).href;
const ALL_AUGMENTS: PluginRef[] = [
  { use: 'flip', with: {} },
  { use: 'rotate', with: {} },
  { use: 'zoom', with: { max: 1.1, p: 1 } },
  { use: 'lighting', with: {} },
];

const jpegs = fs
  .readdirSync(SAMPLE_DIR)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .map((f) => path.join(SAMPLE_DIR, f));

/** Exact area mean of a square centre window of an RGB image of width w, pixel by pixel (the reference). */
function areaMean(full: Uint8Array, w: number, left: number, crop: number, size: number): Float64Array {
  const out = new Float64Array(size * size * 3);
  const s = crop / size;
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      const [y0, x0] = [left + oy * s, left + ox * s];
      for (let y = Math.floor(y0); y < Math.ceil(y0 + s); y++) {
        const wy = Math.min(y0 + s, y + 1) - Math.max(y0, y);
        for (let x = Math.floor(x0); x < Math.ceil(x0 + s); x++) {
          const wx = Math.min(x0 + s, x + 1) - Math.max(x0, x);
          for (let c = 0; c < 3; c++) out[(oy * size + ox) * 3 + c] += (full[(y * w + x) * 3 + c] * wx * wy) / (s * s);
        }
      }
    }
  }
  return out;
}

function meanAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

function samplesOf(files: string[]): Sample[] {
  return files.map((imagePath, i) => ({
    id: path.basename(imagePath, '.jpg'),
    imagePath,
    labels: Float32Array.from({ length: 37 }, (_, j) => ((i * 37 + j) % 101) / 100),
  }));
}

let tmp: string;
let countingModule: string;
const pipelines: ImagePipeline[] = [];

function pipeline(opts: Partial<PipelineOptions> = {}): ImagePipeline {
  const p = new ImagePipeline({
    workers: 0,
    cacheImages: false,
    pluginModules: [BUILTIN],
    configDir: tmp,
    badImagePolicy: 'skip',
    ...opts,
  });
  pipelines.push(p);
  return p;
}

async function collect(gen: AsyncGenerator<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

function expectSameBatches(a: Batch[], b: Batch[]) {
  expect(a.map((x) => x.index)).toEqual(b.map((x) => x.index));
  for (let i = 0; i < a.length; i++) {
    expect(a[i].ids).toEqual(b[i].ids);
    expect(a[i].n).toBe(b[i].n);
    expect(
      Buffer.from(a[i].x.buffer, a[i].x.byteOffset, a[i].x.byteLength).equals(Buffer.from(b[i].x.buffer, b[i].x.byteOffset, b[i].x.byteLength)),
    ).toBe(true);
    expect(a[i].y).toEqual(b[i].y);
  }
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist/vision/pipeline/worker.js'))) {
    throw new Error('dist/ is missing: run `npx tsc -p .` (npm test does it in pretest)');
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-pipeline-'));
  // An augmentation that reports every call through ctx.log, to see which images were prepared when.
  countingModule = path.join(tmp, 'counting-plugin.mjs');
  fs.writeFileSync(
    countingModule,
    `export const plugins = [{ name: 'count-calls', kind: 'augment', description: 'test: logs each call',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create(options, ctx) { return { apply(image) { ctx.log('augment-call'); return image; } }; } },
      { name: 'shrink-by-one', kind: 'augment', description: 'test: breaks the same-size rule',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create() { return { apply(image) { return { ...image, width: image.width - 1, data: image.data.subarray(image.channels * image.height) }; } }; } }];\n`,
  );
});

afterAll(async () => {
  await Promise.all(pipelines.map((p) => p.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('decodeImage', () => {
  it('squishes a whole 424-px JPEG to size×size RGB: the area mean of the full-size pixels', async () => {
    const image = await decodeImage(jpegs[0], { crop: null, size: 64 });
    expect([image.width, image.height, image.channels, image.data.length]).toEqual([64, 64, 3, 64 * 64 * 3]);
    const reference = areaMean(await sharp(jpegs[0]).raw().toBuffer(), 424, 0, 424, 64);
    expect(meanAbsDifference(image.data, reference)).toBeLessThan(1.2);
  });

  it('centre-crops exactly: crop 212 at size 212 is the middle of the full decode', async () => {
    const image = await decodeImage(jpegs[1], { crop: 212, size: 212 });
    const full = await sharp(jpegs[1]).raw().toBuffer();
    let mismatches = 0;
    for (let y = 0; y < 212; y++) {
      for (let x = 0; x < 212 * 3; x++) if (image.data[y * 212 * 3 + x] !== full[(y + 106) * 424 * 3 + 106 * 3 + x]) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('crop → resize (decoded at 1/8…1/2 size) is the area mean of the full-size crop within tolerance', async () => {
    for (const [crop, size] of [
      [212, 64],
      [256, 112],
      [304, 64],
      [424, 64],
    ]) {
      let sum = 0;
      const files = jpegs.slice(0, 8);
      for (const file of files) {
        const ours = await decodeImage(file, { crop, size });
        sum += meanAbsDifference(ours.data, areaMean(await sharp(file).raw().toBuffer(), 424, (424 - crop) / 2, crop, size));
      }
      // Measured 0.45–0.87 grey levels on average (the DCT-scaled decode); one pixel off gives 3.2–4.5.
      expect(sum / files.length, `crop ${crop} size ${size}`).toBeLessThan(1.2);
    }
  });

  it('falls back to sharp for JPEGs TurboJPEG refuses (CMYK), with the same colours', async () => {
    const cmyk = path.join(tmp, 'cmyk.jpg');
    await sharp(jpegs[3]).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(cmyk);
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    expect(new TurboJpeg().decode(fs.readFileSync(cmyk), 2)).toBeNull();
    const image = await decodeImage(cmyk, { crop: null, size: 64 });
    const rgb = await decodeImage(jpegs[3], { crop: null, size: 64 });
    expect(meanAbsDifference(image.data, rgb.data)).toBeLessThan(6);
  });

  it('TurboJPEG decodes at n/8 size, refuses corrupt data, and decodes the next file correctly after a failure', async () => {
    const bytes = fs.readFileSync(jpegs[0]);
    const turbo = new TurboJpeg();
    const quarter = turbo.decode(bytes, 2)!;
    expect([quarter.width, quarter.height, quarter.data.length]).toEqual([106, 106, 106 * 106 * 3]);
    expect([scaledSide(424, 3), scaledSide(425, 1)]).toEqual([159, 54]);
    expect(turbo.decode(bytes.subarray(0, bytes.length / 2), 2)).toBeNull(); // truncated: a libjpeg warning
    const garbage = Buffer.concat([bytes.subarray(0, 600), Buffer.alloc(4000, 0x55)]); // valid header, nonsense data
    expect(turbo.decode(garbage, 2)).toBeNull();
    expect(Buffer.from(turbo.decode(bytes, 2)!.data).equals(Buffer.from(quarter.data))).toBe(true);
    // Full size is libjpeg's exact decode: the same pixels sharp (libjpeg too) gives.
    expect(Buffer.from(turbo.decode(bytes, 8)!.data).equals(await sharp(bytes).raw().toBuffer())).toBe(true);
  });

  it('plans crops so JPEG shrink-on-load is used where it applies', () => {
    // sharp's own rule, including its halving when the shrink is exactly the factor.
    expect([
      jpegShrinkOnLoad(424, 128),
      jpegShrinkOnLoad(424, 212),
      jpegShrinkOnLoad(424, 53),
      jpegShrinkOnLoad(424, 50),
      jpegShrinkOnLoad(424, 40),
    ]).toEqual([2, 1, 4, 4, 8]);
    // Whole image → 90 px (shrink 4.7, which sharp takes as 2), then the centre 64.
    expect(planCentreCrop(424, 424, 304, 64)).toMatchObject({ shrinkOnLoad: 2, scaledWidth: 90, left: 13 });
    expect(planCentreCrop(424, 424, 424, 64)).toMatchObject({ shrinkOnLoad: 4, scaledWidth: 64, left: 0 });
    const large = planCentreCrop(424, 424, 212, 112); // 424 → 224 is < 2×: extract first instead
    expect(large).toMatchObject({ shrinkOnLoad: 1, cropLeft: 106, cropTop: 106 });
  });

  it('makes greyscale and alpha images 3-channel RGB', async () => {
    const grey = path.join(tmp, 'grey.jpg');
    await sharp(jpegs[2]).toColourspace('b-w').jpeg().toFile(grey);
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const g = await decodeImage(grey, { crop: 300, size: 32 });
    expect(g.channels).toBe(3);
    expect(g.data.length).toBe(32 * 32 * 3);
    for (let i = 0; i < g.data.length; i += 3) expect(g.data[i]).toBe(g.data[i + 2]);

    const rgba = path.join(tmp, 'alpha.png');
    await sharp(jpegs[2]).ensureAlpha(0.5).png().toFile(rgba);
    const a = await decodeImage(rgba, { crop: null, size: 32 });
    expect([a.channels, a.data.length]).toEqual([3, 32 * 32 * 3]);
  });

  it('reports unreadable files, and images smaller than the crop, as BadImageError naming the file', async () => {
    const truncated = path.join(tmp, 'truncated.jpg');
    const bytes = fs.readFileSync(jpegs[0]);
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length / 2));
    await expect(decodeImage(truncated, { crop: null, size: 64 })).rejects.toThrow(BadImageError);
    await expect(decodeImage(truncated, { crop: null, size: 64 })).rejects.toThrow(/truncated\.jpg: (.*premature end|corrupt or truncated)/i);
    await expect(decodeImage(path.join(tmp, 'nope.jpg'), { crop: null, size: 64 })).rejects.toThrow(/nope\.jpg: file not found/);
    // on_bad_image decides about an image smaller than the crop, as about an unreadable one.
    await expect(decodeImage(jpegs[0], { crop: 500, size: 64 })).rejects.toMatchObject({
      name: 'BadImageError',
      message: expect.stringMatching(/\.jpg: 424×424 px, smaller than the centre crop of 500 px \(data\.with\.crop\)/),
    });
  });

  it('reads JPEG sizes from the header like sharp does, and falls back to sharp for other formats', async () => {
    for (const file of jpegs.slice(0, 10)) {
      const meta = await sharp(file).metadata();
      expect(jpegSize(fs.readFileSync(file))).toEqual({ width: meta.width, height: meta.height });
    }
    const wide = await sharp(jpegs[0]).resize(300, 200, { fit: 'fill' }).jpeg({ progressive: true }).toBuffer();
    expect(jpegSize(wide)).toEqual({ width: 300, height: 200 });
    expect(jpegSize(fs.readFileSync(jpegs[0]).subarray(0, 20))).toBeNull();
    const png = path.join(tmp, 'wide.png');
    await sharp(wide).png().toFile(png);
    expect(jpegSize(fs.readFileSync(png))).toBeNull();
    // Non-square, lossless: crop 150 at size 150 must be exactly the centre of the 300×200 pixels.
    const centre = await decodeImage(png, { crop: 150, size: 150 });
    const full = await sharp(png).raw().toBuffer();
    let mismatches = 0;
    for (let y = 0; y < 150; y++) {
      for (let x = 0; x < 150 * 3; x++) if (centre.data[y * 450 + x] !== full[(y + 25) * 900 + 75 * 3 + x]) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect((await decodeImage(png, { crop: 150, size: 30 })).data.length).toBe(30 * 30 * 3);
    await expect(decodeImage(png, { crop: 250, size: 30 })).rejects.toThrow(/wide\.png: 300×200 px, smaller than the centre crop of 250 px/);
  });

  it('train.workers: auto starts one worker per core, at least 1 and at most 8; numbers stay as given', () => {
    expect([imageWorkerCount('auto', 1), imageWorkerCount('auto', 2), imageWorkerCount('auto', 32)]).toEqual([1, 2, 8]);
    expect([imageWorkerCount(0, 2), imageWorkerCount(3, 2)]).toEqual([0, 3]);
  });

  it('train.cache_images: auto keeps decoded images in memory only when every size fits in a quarter of memory', () => {
    const GiB = 2 ** 30;
    // The Kaggle training set on a 24 GiB machine: 64 px (0.76 GB) fits; 112 then 224 px (11.6 GB) does not.
    expect(autoCachePlan(61578, [64, 64], 24 * GiB)).toEqual({ cache: true, sizes: [64], bytes: 61578 * 64 * 64 * 3, memory: 24 * GiB });
    expect(autoCachePlan(61578, [112, 224], 24 * GiB)).toMatchObject({ cache: false, sizes: [112, 224], bytes: 61578 * (112 * 112 + 224 * 224) * 3 });
    expect(autoCachePlan(61578, [64], 2 * GiB).cache).toBe(false); // a small container
  });

  it('toFloat stacks images NHWC in [0, 1]', () => {
    const a = { data: Uint8Array.from([0, 255, 51, 102]), width: 2, height: 2, channels: 1 };
    const b = { data: Uint8Array.from([255, 0, 0, 255]), width: 2, height: 2, channels: 1 };
    expect(Array.from(toFloat([a, b]))).toEqual([0, 1, 0.2, 0.4, 1, 0, 0, 1].map((v) => Math.fround(v)));
  });
});

describe('ImagePipeline', () => {
  const request = (over: Partial<Parameters<ImagePipeline['epoch']>[0]> = {}) => ({
    samples: samplesOf(jpegs.slice(0, 20)),
    size: 48,
    crop: 256,
    batchSize: 6,
    augment: ALL_AUGMENTS,
    seed: 7,
    epoch: 3,
    shuffle: true,
    ...over,
  });

  it('gives byte-identical batches with 0 and 2 workers, and with the cache on', async () => {
    const inline = await collect(pipeline({ workers: 0 }).epoch(request()));
    const threaded = await collect(pipeline({ workers: 2 }).epoch(request()));
    const cachedPipeline = pipeline({ workers: 2, cacheImages: true });
    const cachedFirst = await collect(cachedPipeline.epoch(request()));
    const cachedAgain = await collect(cachedPipeline.epoch(request()));
    expect(inline.map((b) => b.n)).toEqual([6, 6, 6, 2]);
    expect(inline[0].x.length).toBe(6 * 48 * 48 * 3);
    expect(inline[0].y!.length).toBe(6 * 37);
    expectSameBatches(inline, threaded);
    expectSameBatches(inline, cachedFirst);
    expectSameBatches(inline, cachedAgain);
  });

  it('labels and ids travel with their images; shuffling is a per-epoch permutation', async () => {
    const p = pipeline();
    const samples = samplesOf(jpegs.slice(0, 20));
    const plain = await collect(p.epoch(request({ shuffle: false, augment: [] })));
    expect(plain.flatMap((b) => b.ids)).toEqual(samples.map((s) => s.id));
    const e3 = await collect(p.epoch(request({ augment: [] })));
    const e4 = await collect(p.epoch(request({ augment: [], epoch: 4 })));
    const ids3 = e3.flatMap((b) => b.ids);
    const ids4 = e4.flatMap((b) => b.ids);
    expect([...ids3].sort()).toEqual(samples.map((s) => s.id).sort());
    expect(ids3).not.toEqual(ids4);
    expect(ids3).not.toEqual(samples.map((s) => s.id));
    // Row k of y belongs to ids[k]; image k is the un-augmented decode of that file.
    const byId = new Map(samples.map((s) => [s.id, s]));
    const b = e3[1];
    for (let k = 0; k < b.n; k++) {
      expect(Array.from(b.y!.subarray(k * 37, (k + 1) * 37))).toEqual(Array.from(byId.get(b.ids[k])!.labels!));
    }
    const decoded = await decodeImage(byId.get(b.ids[2])!.imagePath, { crop: 256, size: 48 });
    expect(Array.from(b.x.subarray(2 * 48 * 48 * 3, 3 * 48 * 48 * 3))).toEqual(Array.from(toFloat([decoded])));
  });

  it('augments differently per epoch but reproducibly for the same (seed, epoch)', async () => {
    const p = pipeline();
    const unshuffled = { shuffle: false };
    const a = await collect(p.epoch(request({ ...unshuffled, epoch: 1 })));
    const again = await collect(p.epoch(request({ ...unshuffled, epoch: 1 })));
    const other = await collect(p.epoch(request({ ...unshuffled, epoch: 2 })));
    expectSameBatches(a, again);
    expect(Buffer.from(a[0].x.buffer).equals(Buffer.from(other[0].x.buffer))).toBe(false);
  });

  it('prepares exactly `prefetch` batches ahead and yields them in order', async () => {
    let calls = 0;
    const p = pipeline({
      workers: 2,
      prefetch: 2,
      pluginModules: [BUILTIN, pathToFileURL(countingModule).href],
      log: (m) => m === 'augment-call' && calls++,
    });
    const gen = p.epoch(request({ samples: samplesOf(jpegs.slice(0, 24)), batchSize: 4, augment: [{ use: 'count-calls', with: {} }] }));
    const first = await gen.next();
    expect((first.value as Batch).index).toBe(0);
    // Batch 0 plus two batches ahead get prepared while the caller "trains"; nothing beyond that.
    const deadline = Date.now() + 120_000; // generous: worker start-up on a busy 2-core machine
    while (calls < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(12);
    const rest: number[] = [];
    for await (const b of { [Symbol.asyncIterator]: () => gen }) rest.push(b.index);
    expect(rest).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toBe(24);
  });

  it('startBatch resumes inside an epoch without decoding the skipped batches', async () => {
    let calls = 0;
    const p = pipeline({
      pluginModules: [BUILTIN, pathToFileURL(countingModule).href],
      log: (m) => m === 'augment-call' && calls++,
    });
    const augment = [...ALL_AUGMENTS, { use: 'count-calls', with: {} }];
    const full = await collect(p.epoch(request({ augment })));
    calls = 0;
    const resumed = await collect(p.epoch(request({ augment, startBatch: 2 })));
    expect(calls).toBe(8); // batches 2 (6 images) and 3 (2 images) only
    expectSameBatches(full.slice(2), resumed);
    expect(await collect(p.epoch(request({ augment, startBatch: 4 })))).toEqual([]);
  });

  describe('unreadable images', () => {
    let dir: string;
    let files: string[];
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(tmp, 'bad-'));
      files = jpegs.slice(0, 8).map((f) => {
        const copy = path.join(dir, path.basename(f));
        fs.copyFileSync(f, copy);
        return copy;
      });
      const bytes = fs.readFileSync(files[3]);
      fs.writeFileSync(files[3], bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    });

    for (const workers of [0, 2]) {
      it(`policy skip (workers ${workers}): drops them from their batch, reports each once`, async () => {
        const p = pipeline({ workers, cacheImages: true, badImagePolicy: 'skip' });
        const samples = samplesOf([...files, path.join(dir, 'missing.jpg')]);
        const req = request({ samples, batchSize: 4, shuffle: false });
        for (const epoch of [0, 1]) {
          const batches = await collect(p.epoch({ ...req, epoch }));
          expect(batches.map((b) => b.n)).toEqual([3, 4]); // 4th file truncated, 9th (batch 2) missing
          expect(batches.map((b) => b.index)).toEqual([0, 1]);
          expect(batches[0].ids).toEqual([samples[0].id, samples[1].id, samples[2].id]);
          expect(batches[0].y!.length).toBe(3 * 37);
          expect(Array.from(batches[0].y!.subarray(2 * 37, 3 * 37))).toEqual(Array.from(samples[2].labels!));
        }
        const skipped = p.skipped();
        expect(skipped.map((s) => s.path)).toEqual([files[3], path.join(dir, 'missing.jpg')]);
        expect(skipped[0].reason).toMatch(/premature end|corrupt or truncated/i);
        expect(skipped[1].reason).toBe('file not found');
      });

      it(`policy fail (workers ${workers}): UserError naming the file, the sample and the fix`, async () => {
        const p = pipeline({ workers, badImagePolicy: 'fail' });
        const samples = samplesOf(files);
        const err = await collect(p.epoch(request({ samples, batchSize: 4, shuffle: false }))).catch((e) => e);
        expect(err).toMatchObject({ name: 'UserError' });
        expect(err.message).toContain(files[3]);
        expect(err.message).toContain(`sample "${samples[3].id}"`);
        expect(err.message).toContain('data.with.on_bad_image: skip');
      });
    }
  });

  it('serves later epochs from the cache (files may even disappear)', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cache-'));
    const files = jpegs.slice(0, 6).map((f) => {
      const copy = path.join(dir, path.basename(f));
      fs.copyFileSync(f, copy);
      return copy;
    });
    const p = pipeline({ workers: 2, cacheImages: true, badImagePolicy: 'fail' });
    const req = request({ samples: samplesOf(files), batchSize: 4 });
    const first = await collect(p.epoch({ ...req, epoch: 0 }));
    fs.rmSync(dir, { recursive: true });
    const second = await collect(p.epoch({ ...req, epoch: 0 }));
    expectSameBatches(first, second);
  });

  it('with a disk folder, a later run reads the decoded images instead of decoding; a changed file is decoded again', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'disk-cache-'));
    const cacheDir = path.join(dir, 'cache');
    const files = jpegs.slice(0, 6).map((f) => {
      const copy = path.join(dir, path.basename(f));
      fs.copyFileSync(f, copy);
      return copy;
    });
    const req = request({ samples: samplesOf(files), batchSize: 4 });
    const firstRun = pipeline({ workers: 2, cacheImages: true, cacheDir, badImagePolicy: 'fail' });
    const decoded = await collect(firstRun.epoch({ ...req, epoch: 0 }));
    await firstRun.close();
    expect(fs.readdirSync(cacheDir).some((f) => f.endsWith('.json'))).toBe(true);

    // Same bytes count and modification time, other content: only a cache read can give the old pixels.
    const garbage = Buffer.alloc(fs.statSync(files[0]).size, 7);
    const { atime, mtime } = fs.statSync(files[0]);
    fs.writeFileSync(files[0], garbage);
    fs.utimesSync(files[0], atime, mtime);
    const laterRun = pipeline({ workers: 1, cacheImages: true, cacheDir, badImagePolicy: 'fail' });
    expectSameBatches(decoded, await collect(laterRun.epoch({ ...req, epoch: 0 })));
    await laterRun.close();

    // A newer modification time: the cached pixels no longer stand for the file, which is decoded (and fails).
    fs.utimesSync(files[0], atime, new Date(mtime.getTime() + 5000));
    const afterEdit = pipeline({ workers: 0, cacheImages: true, cacheDir, badImagePolicy: 'fail' });
    await expect(collect(afterEdit.epoch({ ...req, epoch: 0 }))).rejects.toThrow(/Cannot read image/);
    // Another size is another cache: nothing is read from the 48-px one.
    const otherSize = pipeline({ workers: 0, cacheImages: true, cacheDir, badImagePolicy: 'skip' });
    const at32 = await collect(otherSize.epoch({ ...req, size: 32, epoch: 0 }));
    expect(at32.flatMap((b) => b.ids)).not.toContain(path.basename(files[0], '.jpg'));
    expect(at32.reduce((n, b) => n + b.n, 0)).toBe(5);
  });

  it('the disk cache folder: train.cache_dir relative to the config, else $GZX_CACHE_DIR, else ~/.cache/gzx/images', () => {
    const saved = { dir: process.env.GZX_CACHE_DIR, xdg: process.env.XDG_CACHE_HOME };
    try {
      expect(diskCacheDir('cache', '/experiments')).toBe(path.join('/experiments', 'cache'));
      process.env.GZX_CACHE_DIR = '/scratch/gzx';
      expect(diskCacheDir(null, '/experiments')).toBe('/scratch/gzx');
      delete process.env.GZX_CACHE_DIR;
      delete process.env.XDG_CACHE_HOME;
      expect(diskCacheDir(null, '/experiments')).toBe(path.join(os.homedir(), '.cache', 'gzx', 'images'));
    } finally {
      for (const [key, value] of [
        ['GZX_CACHE_DIR', saved.dir],
        ['XDG_CACHE_HOME', saved.xdg],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('a disk cache folder that cannot be written costs only speed: the epochs run, one message says why and what to set', async () => {
    const blocker = path.join(tmp, 'not-a-folder');
    fs.writeFileSync(blocker, 'a file where the cache folder would go');
    const said: string[] = [];
    const p = pipeline({ cacheImages: true, cacheDir: path.join(blocker, 'cache'), log: (m) => said.push(m) });
    const req = request({ samples: samplesOf(jpegs.slice(0, 4)), batchSize: 4 });
    for (const epoch of [0, 1]) expect((await collect(p.epoch({ ...req, epoch }))).reduce((n, b) => n + b.n, 0)).toBe(4);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/image cache: could not save decoded images to .*not-a-folder.*train\.cache_dir/);
  });

  it('workers load dist/ when given the src/ plugin index (as under vitest)', async () => {
    const srcIndex = path.join(ROOT, 'src/plugins/index.ts');
    expect(compiledModuleFor(srcIndex)).toBe(path.join(ROOT, 'dist/plugins/index.js'));
    expect(compiledModuleFor(pathToFileURL(srcIndex).href)).toBe(BUILTIN);
    expect(compiledModuleFor('some-npm-package')).toBe('some-npm-package');
    const viaSrc = await collect(pipeline({ workers: 1, pluginModules: [srcIndex] }).epoch(request({ samples: samplesOf(jpegs.slice(0, 4)) })));
    const inline = await collect(pipeline().epoch(request({ samples: samplesOf(jpegs.slice(0, 4)) })));
    expectSameBatches(viaSrc, inline);
  });

  it('rejects unknown augmentations and bad options as UserError', async () => {
    const p = pipeline();
    await expect(collect(p.epoch(request({ augment: [{ use: 'flp', with: {} }] })))).rejects.toMatchObject({
      name: 'UserError',
      message: expect.stringMatching(/augment\[0\]: augment plugin "flp" is not registered\. Did you mean "flip"\?/),
    });
    await expect(collect(p.epoch(request({ augment: [{ use: 'flip', with: { horizontal: 2 } }] })))).rejects.toMatchObject({
      name: 'UserError',
      message: expect.stringMatching(/augment\[0\] \(flip\)\.with is invalid: \/horizontal must be <= 1/),
    });
    await expect(collect(p.epoch(request({ augment: [{ use: 'flip', with: { horizotal: 1 } }] })))).rejects.toThrow(
      /must NOT have additional properties "horizotal"/,
    );
  });

  it('refuses an augmentation that changes the image size, and epochs after close()', async () => {
    const p = pipeline({ pluginModules: [BUILTIN, pathToFileURL(countingModule).href] });
    await expect(
      collect(
        p.epoch(
          request({
            augment: [
              { use: 'flip', with: {} },
              { use: 'shrink-by-one', with: {} },
            ],
          }),
        ),
      ),
    ).rejects.toMatchObject({
      name: 'UserError',
      message: expect.stringMatching(/augment\[1\] \(shrink-by-one\) returned a 47×48×3 image for a 48×48×3 input/),
    });
    await p.close();
    await expect(collect(p.epoch(request()))).rejects.toThrow(/after close\(\)/);
  });

  it('close() ends the workers: the process exits by itself, also when an epoch is abandoned', () => {
    const script = path.join(tmp, 'exit-check.mjs');
    fs.writeFileSync(
      script,
      `import { ImagePipeline } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/vision/pipeline/index.js')).href)};
       const samples = ${JSON.stringify(jpegs.slice(0, 12).map((f, i) => ({ id: String(i), imagePath: f })))};
       const req = { samples, size: 32, crop: null, batchSize: 2, augment: [{ use: 'flip', with: {} }], seed: 1, epoch: 0, shuffle: true };
       const opts = { workers: 2, cacheImages: false, pluginModules: [${JSON.stringify(BUILTIN)}], configDir: '.', badImagePolicy: 'skip' };
       const closed = new ImagePipeline(opts);
       for await (const b of closed.epoch(req)) {}
       await closed.close();
       // Never closed, left mid-epoch with batches in flight: must not keep the process alive either.
       const forgotten = new ImagePipeline(opts);
       for await (const b of forgotten.epoch(req)) break;
       console.log('done');\n`,
    );
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 180_000 });
    expect(run.error).toBeUndefined(); // ETIMEDOUT here would mean a worker kept the process alive
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('done');
    expect(run.status).toBe(0);
  });
});
