// Image pipeline throughput vs plain sharp decoding of the same 424-px sample JPEGs.
// Run: npm run bench:pipeline  (= tsc, then vite-node bench/pipeline.ts --pipeline-table; workers load dist/)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { Sample } from '../src/core/contracts.js';
import type { PluginRef } from '../src/core/experiment.js';
import { ImagePipeline, decodeImage } from '../src/core/pipeline/index.js';

const SAMPLE_DIR = '/work/shared/galaxy-zoo/sample';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILTIN = pathToFileURL(path.join(ROOT, 'dist/plugins/index.js')).href;
/** The sample set is repeated so one timed pass has enough images to smooth out scheduling noise. */
const REPEATS = Number(process.env.GZX_BENCH_PIPELINE_REPEATS ?? 4);
/** Runs per configuration; the median is reported (other processes share the 2 cores). */
const RUNS = 3;
const SIZES = [64, 112];
const WORKER_COUNTS = [0, 1, 2];
const AUGMENT: PluginRef[] = [
  { use: 'flip', with: {} },
  { use: 'rotate', with: {} },
  { use: 'zoom', with: {} },
  { use: 'lighting', with: {} },
];
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

/** Images per second of `work` over all files, `concurrency` at a time; median of RUNS runs. */
async function rate(list: string[], concurrency: number, work: (file: string) => Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < list.length) await work(list[next++]);
      }),
    );
    runs.push(list.length / ((performance.now() - start) / 1000));
  }
  return median(runs);
}

async function pipelineRate(p: ImagePipeline, samples: Sample[], size: number, augment: PluginRef[]): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    let n = 0;
    for await (const batch of p.epoch({ samples, size, crop: null, batchSize: 32, augment, seed: 1, epoch: r, shuffle: true })) {
      n += batch.n;
    }
    runs.push(n / ((performance.now() - start) / 1000));
  }
  return median(runs);
}

export async function runPipelineBench(): Promise<Record<string, number>> {
  const list = files();
  const samples: Sample[] = list.map((imagePath, i) => ({ id: String(i), imagePath }));
  const out: Record<string, number> = {};
  const round = (v: number) => Math.round(v * 10) / 10;

  out['pipeline.plain_full_decode_ips'] = round(await rate(list, PLAIN_CONCURRENCY, (f) => sharp(f).raw().toBuffer()));
  for (const size of SIZES) {
    out[`pipeline.plain_resize${size}_ips`] = round(
      await rate(list, PLAIN_CONCURRENCY, (f) => sharp(f).resize(size, size, { fit: 'fill' }).raw().toBuffer()),
    );
  }
  // Centre crop 212 → 64: extract-then-resize (sharp skips shrink-on-load) vs decodeImage (keeps it).
  out['pipeline.crop212_to64_extract_first_ips'] = round(
    await rate(list, PLAIN_CONCURRENCY, (f) =>
      sharp(f).extract({ left: 106, top: 106, width: 212, height: 212 }).resize(64, 64, { fit: 'fill' }).raw().toBuffer(),
    ),
  );
  out['pipeline.crop212_to64_decodeImage_ips'] = round(
    await rate(list, PLAIN_CONCURRENCY, (f) => decodeImage(f, { crop: 212, size: 64 })),
  );

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
      for await (const _ of p.epoch({ samples: samples.slice(0, 8), size: 32, crop: null, batchSize: 8, augment: AUGMENT, seed: 0, epoch: 0, shuffle: false })) {
        // drain
      }
      out[`pipeline.w${workers}_startup_ms`] = Math.round(performance.now() - start);
      for (const size of SIZES) {
        const ips = await pipelineRate(p, samples, size, AUGMENT);
        out[`pipeline.w${workers}_s${size}_aug_ips`] = round(ips);
        out[`pipeline.w${workers}_s${size}_aug_vs_plain_resize`] = Math.round((ips / out[`pipeline.plain_resize${size}_ips`]) * 100) / 100;
      }
      if (workers === 0) {
        for (const size of SIZES) out[`pipeline.w0_s${size}_noaug_ips`] = round(await pipelineRate(p, samples, size, []));
      }
    } finally {
      await p.close();
    }
  }
  return out;
}

function printTable(r: Record<string, number>): void {
  const lines = [
    `images per run: ${files().length} (64 sample JPEGs ×${REPEATS}), median of ${RUNS} runs, ${os.cpus().length} cores`,
    `plain sharp full decode (raw 424×424):   ${r['pipeline.plain_full_decode_ips']} img/s`,
    ...SIZES.map((s) => `plain sharp resize to ${s}:             ${r[`pipeline.plain_resize${s}_ips`]} img/s`),
    `crop 212→64, extract first (no SOL):     ${r['pipeline.crop212_to64_extract_first_ips']} img/s`,
    `crop 212→64, decodeImage (SOL kept):     ${r['pipeline.crop212_to64_decodeImage_ips']} img/s`,
    '',
    '| workers | start-up ms | 64 px aug img/s | ×plain | 112 px aug img/s | ×plain |',
    '|---|---|---|---|---|---|',
    ...WORKER_COUNTS.map(
      (w) =>
        `| ${w} | ${r[`pipeline.w${w}_startup_ms`]} | ${r[`pipeline.w${w}_s64_aug_ips`]} | ${r[`pipeline.w${w}_s64_aug_vs_plain_resize`]} | ` +
        `${r[`pipeline.w${w}_s112_aug_ips`]} | ${r[`pipeline.w${w}_s112_aug_vs_plain_resize`]} |`,
    ),
    '',
    `workers 0 without augmentation: 64 px ${r['pipeline.w0_s64_noaug_ips']} img/s, 112 px ${r['pipeline.w0_s112_noaug_ips']} img/s`,
  ];
  console.log(lines.join('\n'));
}

// vite-node hides the script path from argv, so the table is asked for with a flag.
if (process.argv.includes('--pipeline-table')) {
  runPipelineBench().then(printTable, (e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
