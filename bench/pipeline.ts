// Image pipeline throughput vs plain sharp decoding of the same 424-px sample JPEGs.
// Run: npm run bench:pipeline  (= tsc, then vite-node bench/pipeline.ts --pipeline-table; workers load dist/)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { Sample } from '../src/framework/contracts.js';
import type { PluginRef } from '../src/framework/experiment-config.js';
import { ImagePipeline, decodeImage } from '../src/vision/pipeline/index.js';
import { TurboJpeg } from '../src/vision/pipeline/jpeg-turbo.js';

// shared/ sits beside the checkout; GZX_SAMPLE_DIR overrides.
const SAMPLE_DIR = process.env.GZX_SAMPLE_DIR ?? path.resolve(import.meta.dirname, '..', '..', 'shared', 'galaxy-zoo', 'sample');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILTIN = pathToFileURL(path.join(ROOT, 'dist/plugins/index.js')).href;
/** The sample set is repeated so one timed pass has enough images to smooth out scheduling noise. */
const REPEATS = Number(process.env.GZX_BENCH_PIPELINE_REPEATS ?? 4);
/** Runs per configuration; the median is reported (other processes share the 2 cores). */
const RUNS = 3;
const SIZES = [64, 112];
const CROPS = [212, 304];
const WORKER_COUNTS = [0, 1, 2];
const AUGMENT: PluginRef[] = [
  { use: 'flip', with: {} },
  { use: 'rotate', with: {} },
  { use: 'zoom', with: {} },
  { use: 'lighting', with: {} },
];
/** The same transforms with flip, rotation and zoom composed into one resampling (`affine`). */
const AUGMENT_FUSED: PluginRef[] = [
  { use: 'affine', with: { flip_horizontal: 0.5, flip_vertical: 0.5 } },
  { use: 'lighting', with: {} },
];
/** Simulated training time per image on the main thread for the busy-consumer measurement. */
const BUSY_MS = 3;
/** In-flight plain decodes: libuv's default pool has 4 threads, so 4 keeps both cores busy. */
const PLAIN_CONCURRENCY = 4;

function files(): string[] {
  const jpegs = fs
    .readdirSync(SAMPLE_DIR)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .map((f) => path.join(SAMPLE_DIR, f));
  return Array.from({ length: REPEATS }, () => jpegs).flat();
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Rate {
  /** Images per second, wall clock. */
  ips: number;
  /** CPU milliseconds per image over all threads of the process (workers and libvips included):
   * unlike img/s it barely depends on what else runs on the machine. */
  cpuMs: number;
}

/** Runs `pass` RUNS times and keeps the median of each measure. */
async function measure(pass: (run: number) => Promise<number>): Promise<Rate> {
  const ips: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const n = await pass(r);
    const used = process.cpuUsage(cpuStart);
    ips.push(n / ((performance.now() - start) / 1000));
    cpu.push((used.user + used.system) / 1000 / n);
  }
  return { ips: median(ips), cpuMs: median(cpu) };
}

/** `work` over all files, `concurrency` at a time. */
async function workThrough(list: string[], concurrency: number, work: (file: string) => Promise<unknown>): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < list.length) await work(list[next++]);
    }),
  );
  return list.length;
}

function rate(list: string[], concurrency: number, work: (file: string) => Promise<unknown>): Promise<Rate> {
  return measure(() => workThrough(list, concurrency, work));
}

/** The 4-in-flight sharp resize every pipeline figure is compared with. */
const plainResize = (size: number) => (file: string) => sharp(file).resize(size, size, { fit: 'fill' }).raw().toBuffer();

/** Stands in for a training step: blocks the main thread for `ms` like synchronous tfjs work does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** One epoch through the pipeline; the number of images. */
async function pipelinePass(
  p: ImagePipeline,
  samples: Sample[],
  size: number,
  augment: PluginRef[],
  epoch: number,
  trainMsPerImage = 0,
): Promise<number> {
  let n = 0;
  for await (const batch of p.epoch({ samples, size, crop: null, batchSize: 32, augment, seed: 1, epoch, shuffle: true })) {
    n += batch.n;
    busy(batch.n * trainMsPerImage);
  }
  return n;
}

function pipelineRate(p: ImagePipeline, samples: Sample[], size: number, augment: PluginRef[], trainMsPerImage = 0): Promise<Rate> {
  return measure((r) => pipelinePass(p, samples, size, augment, r, trainMsPerImage));
}

/** Rounds of the alternating comparison below. */
const ALTERNATING_ROUNDS = 5;

/**
 * Pipeline ÷ plain sharp resizing, timed in alternating passes so that the machine's drift (tens of
 * per cent within minutes here) hits both alike; the median of the per-round ratios.
 */
async function alternatingRatio(list: string[], p: ImagePipeline, samples: Sample[], size: number, augment: PluginRef[]): Promise<number> {
  const ratios: number[] = [];
  for (let round = 0; round < ALTERNATING_ROUNDS; round++) {
    let start = performance.now();
    const plainIps = (await workThrough(list, PLAIN_CONCURRENCY, plainResize(size))) / (performance.now() - start);
    start = performance.now();
    const n = await pipelinePass(p, samples, size, augment, 100 + round);
    ratios.push(n / (performance.now() - start) / plainIps);
  }
  return median(ratios);
}

export async function runPipelineBench(): Promise<Record<string, number>> {
  const list = files();
  const samples: Sample[] = list.map((imagePath, i) => ({ id: String(i), imagePath }));
  const out: Record<string, number> = {};
  const put = (name: string, r: Rate) => {
    out[`pipeline.${name}_ips`] = Math.round(r.ips * 10) / 10;
    out[`pipeline.${name}_cpu_ms_per_img`] = Math.round(r.cpuMs * 1000) / 1000;
  };

  put('plain_full_decode', await rate(list, PLAIN_CONCURRENCY, (f) => sharp(f).raw().toBuffer()));
  for (const size of SIZES) {
    put(`plain_resize${size}`, await rate(list, PLAIN_CONCURRENCY, plainResize(size)));
  }
  // The least any decoder of these files pays: TurboJPEG at 1/8 reads every entropy-coded bit but
  // inverse-transforms only the DC terms (no resize, no augmentation).
  const turbo = new TurboJpeg();
  put('jpeg_floor', await rate(list, 1, async (f) => turbo.decode(await fs.promises.readFile(f), 1)));
  // gzx's own decoding (TurboJPEG at n/8 + area mean for these sizes), one image at a time in this thread.
  for (const size of SIZES) put(`decodeImage${size}`, await rate(list, 1, (f) => decodeImage(f, { crop: null, size })));
  // Centre crops to 64 px: sharp's extract-then-resize (no shrink-on-load) vs decodeImage, which
  // resizes first when shrink-on-load applies (factor 2 for both crops here).
  for (const crop of CROPS) {
    const left = Math.floor((424 - crop) / 2);
    put(
      `crop${crop}_to64_extract_first`,
      await rate(list, PLAIN_CONCURRENCY, (f) =>
        sharp(f).extract({ left, top: left, width: crop, height: crop }).resize(64, 64, { fit: 'fill' }).raw().toBuffer(),
      ),
    );
    put(`crop${crop}_to64_decodeImage`, await rate(list, PLAIN_CONCURRENCY, (f) => decodeImage(f, { crop, size: 64 })));
  }

  for (const workers of WORKER_COUNTS) {
    const start = performance.now();
    const p = new ImagePipeline({
      workers,
      cacheImages: false,
      pluginModules: [BUILTIN],
      configDir: ROOT,
      badImagePolicy: 'fail',
      runDir: os.tmpdir(),
    });
    try {
      // First (small) epoch pays for worker start-up and module loading; timed separately.
      for await (const _ of p.epoch({
        samples: samples.slice(0, 8),
        size: 32,
        crop: null,
        batchSize: 8,
        augment: AUGMENT,
        seed: 0,
        epoch: 0,
        shuffle: false,
      })) {
        // drain
      }
      out[`pipeline.w${workers}_startup_ms`] = Math.round(performance.now() - start);
      for (const size of SIZES) {
        put(`w${workers}_s${size}_aug`, await pipelineRate(p, samples, size, AUGMENT));
        put(`w${workers}_s${size}_affine`, await pipelineRate(p, samples, size, AUGMENT_FUSED));
        for (const kind of ['aug', 'affine']) {
          out[`pipeline.w${workers}_s${size}_${kind}_vs_plain_resize`] =
            Math.round((out[`pipeline.w${workers}_s${size}_${kind}_ips`] / out[`pipeline.plain_resize${size}_ips`]) * 100) / 100;
        }
      }
      for (const size of SIZES) {
        out[`pipeline.w${workers}_s${size}_affine_vs_plain_alternating`] =
          Math.round((await alternatingRatio(list, p, samples, size, AUGMENT_FUSED)) * 100) / 100;
      }
      // With a consumer that keeps the main thread busy (as training does), only work done off the
      // main thread overlaps with it: this is where workers pay off.
      put(`w${workers}_s64_aug_busy${BUSY_MS}`, await pipelineRate(p, samples, 64, AUGMENT, BUSY_MS));
      if (workers === 0) {
        for (const size of SIZES) put(`w0_s${size}_noaug`, await pipelineRate(p, samples, size, []));
      }
    } finally {
      await p.close();
    }
  }
  // Epochs after the first with `cache_images: true`: decoded, resized images come from memory and
  // only the augmentation runs (the recipe's 112-px phase reads each image 12 times).
  for (const workers of WORKER_COUNTS) {
    const p = new ImagePipeline({
      workers,
      cacheImages: true,
      pluginModules: [BUILTIN],
      configDir: ROOT,
      badImagePolicy: 'fail',
      runDir: os.tmpdir(),
    });
    try {
      for (const size of SIZES) {
        await pipelineRate(p, samples, size, AUGMENT_FUSED); // fills the cache
        put(`w${workers}_s${size}_affine_cached`, await pipelineRate(p, samples, size, AUGMENT_FUSED));
        out[`pipeline.w${workers}_s${size}_affine_cached_vs_plain_resize`] =
          Math.round((out[`pipeline.w${workers}_s${size}_affine_cached_ips`] / out[`pipeline.plain_resize${size}_ips`]) * 100) / 100;
      }
    } finally {
      await p.close();
    }
  }
  return out;
}

/** The pipeline metrics as Markdown tables (bench/run.ts may print this instead of raw keys). */
export function formatPipelineTable(r: Record<string, number>): string {
  const row = (label: string, key: string) => `| ${label} | ${r[`pipeline.${key}_ips`]} | ${r[`pipeline.${key}_cpu_ms_per_img`]} |`;
  const lines = [
    `${files().length} images per pass (64 sample JPEGs, 424×424, ×${REPEATS}); median of ${RUNS} passes; ` +
      `${os.availableParallelism()} cores, load average ${os.loadavg()[0].toFixed(1)} when printed`,
    '',
    '| what | img/s | CPU ms/img |',
    '|---|---|---|',
    row('plain sharp full decode (raw 424×424)', 'plain_full_decode'),
    ...SIZES.map((s) => row(`plain sharp resize to ${s}`, `plain_resize${s}`)),
    row('TurboJPEG at 1/8 only (the floor: entropy decoding and DC; one thread)', 'jpeg_floor'),
    ...SIZES.map((s) => row(`decodeImage to ${s} (TurboJPEG at n/8 + area mean; one thread)`, `decodeImage${s}`)),
    ...CROPS.flatMap((c) => [
      row(`crop ${c}→64, extract first (no shrink-on-load)`, `crop${c}_to64_extract_first`),
      row(`crop ${c}→64, decodeImage (TurboJPEG at n/8)`, `crop${c}_to64_decodeImage`),
    ]),
    ...SIZES.map((s) => row(`pipeline, 0 workers, no augmentation, ${s} px`, `w0_s${s}_noaug`)),
    ...WORKER_COUNTS.flatMap((w) => SIZES.map((s) => row(`pipeline, ${w} workers, flip+rotate+zoom+lighting, ${s} px`, `w${w}_s${s}_aug`))),
    ...WORKER_COUNTS.flatMap((w) =>
      SIZES.map((s) => row(`pipeline, ${w} workers, affine (flip·rotate·zoom in one pass)+lighting, ${s} px`, `w${w}_s${s}_affine`)),
    ),
    ...WORKER_COUNTS.flatMap((w) =>
      SIZES.map((s) => row(`pipeline, ${w} workers, affine+lighting, ${s} px, later epoch with cache_images`, `w${w}_s${s}_affine_cached`)),
    ),
    ...WORKER_COUNTS.map((w) =>
      row(`pipeline, ${w} workers, aug, 64 px, consumer busy ${BUSY_MS} ms/img (CPU incl. the busy time)`, `w${w}_s64_aug_busy${BUSY_MS}`),
    ),
    `(a consumer busy ${BUSY_MS} ms/img alone caps at ${Math.round(1000 / BUSY_MS)} img/s)`,
    '',
    '| workers | start-up ms | 64 px ×plain resize | 112 px ×plain resize | affine 64 px ×plain | affine 112 px ×plain | affine 64 / 112 px ×plain, alternating | cached affine 64 / 112 px ×plain |',
    '|---|---|---|---|---|---|---|---|',
    ...WORKER_COUNTS.map(
      (w) =>
        `| ${w} | ${r[`pipeline.w${w}_startup_ms`]} | ${r[`pipeline.w${w}_s64_aug_vs_plain_resize`]} | ${r[`pipeline.w${w}_s112_aug_vs_plain_resize`]} | ` +
        `${r[`pipeline.w${w}_s64_affine_vs_plain_resize`]} | ${r[`pipeline.w${w}_s112_affine_vs_plain_resize`]} | ` +
        `${r[`pipeline.w${w}_s64_affine_vs_plain_alternating`]} / ${r[`pipeline.w${w}_s112_affine_vs_plain_alternating`]} | ` +
        `${r[`pipeline.w${w}_s64_affine_cached_vs_plain_resize`]} / ${r[`pipeline.w${w}_s112_affine_cached_vs_plain_resize`]} |`,
    ),
  ];
  return lines.join('\n');
}

// vite-node hides the script path from argv, so the table is asked for with a flag.
if (process.argv.includes('--pipeline-table')) {
  runPipelineBench().then(
    (r) => console.log(formatPipelineTable(r)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
