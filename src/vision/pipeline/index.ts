// The image pipeline: samples → decoded, cropped, resized, augmented NHWC float batches, built in
// worker threads (or the main thread) a few batches ahead of the training loop.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Sample } from '../../framework/contracts.js';
import type { Batch } from '../../framework/data-module.js';

export type { Batch };
import type { PluginRef } from '../../framework/experiment-config.js';
import type { PluginRegistry } from '../../framework/registry.js';
import type { ImageDecoder } from '../../framework/services.js';
import { UserError } from '../../base/errors.js';
import { SeededRng, deriveSeed } from '../../base/random.js';
import { BadImageError } from './decode.js';
import { BatchMaker, type BatchItem, type BatchJob, type BatchResult } from './batch.js';
import { ImageCache, type CacheSlab } from './cache.js';
import { loadAugmentRegistry, resolveAugmentRefs } from './augmentations.js';
import { deserializeError, type SerializedError, type WorkerInit } from './messages.js';

export { decodeImage, defaultImageDecoder, toFloat, BadImageError, planCentreCrop } from './decode.js';

/** Skipped images named on the console; all of them go to the run's SKIPPED_IMAGES_FILE. */
const MAX_SKIPS_PRINTED = 20;
/** The run folder's list of skipped images: one `path<TAB>reason` line each. */
export const SKIPPED_IMAGES_FILE = 'skipped-images.txt';

/** Most workers `workers: auto` starts: each loads the plugin modules, and training needs cores too. */
const MAX_AUTO_WORKERS = 8;

/** Worker threads for a `train.workers` setting: `auto` decodes on every core (TurboJPEG runs in the thread that asks). */
export function imageWorkerCount(setting: number | 'auto', cores = os.availableParallelism()): number {
  return setting === 'auto' ? Math.max(1, Math.min(cores, MAX_AUTO_WORKERS)) : setting;
}

/** Share of the machine's memory `cache_images: auto` may fill with decoded images. */
const AUTO_CACHE_MEMORY_SHARE = 0.25;

/** Memory this process may use: the container's limit where one is set, else the machine's. */
export function usableMemory(): number {
  const total = os.totalmem();
  const limit = process.constrainedMemory?.() ?? 0; // 0, or 2^64-ish, when unconstrained
  return limit > 0 && limit < total ? limit : total;
}

export interface AutoCachePlan {
  /** Whether decoded images are kept in memory. */
  cache: boolean;
  /** The distinct image sizes counted. */
  sizes: number[];
  /** Memory the cache fills once every image has been decoded at every size. */
  bytes: number;
  /** Usable memory; `auto` allows a quarter of it. */
  memory: number;
}

/**
 * `cache_images: auto`: keep decoded images in memory when all of them, at every size the phases
 * use, fit in a quarter of memory (61,578 Kaggle images: 0.76 GB at 64 px, 2.3 GB at 112, 9.3 GB at 224).
 */
export function autoCachePlan(images: number, sizes: number[], memory = usableMemory()): AutoCachePlan {
  const distinct = [...new Set(sizes)];
  const bytes = distinct.reduce((sum, size) => sum + images * size * size * 3, 0);
  return { cache: bytes <= memory * AUTO_CACHE_MEMORY_SHARE, sizes: distinct, bytes, memory };
}

export interface PipelineOptions {
  /** 0 = decode in the main thread. */
  workers: number;
  /** Keep decoded+resized (pre-augmentation) images in memory across epochs. */
  cacheImages: boolean;
  /** With cacheImages: also keep them in this folder for later runs (loaded when they start). */
  cacheDir?: string | null;
  /** Module specifiers/URLs exporting `plugins` (the built-in index included); workers load them to build augmentations. */
  pluginModules: string[];
  configDir: string;
  badImagePolicy: 'skip' | 'fail';
  /** Batches prepared ahead of the one being consumed (default 2). */
  prefetch?: number;
  /** Passed to augmentation plugins as ctx.runDir (default: the OS temp folder). */
  runDir?: string;
  /** Receives plugins' ctx.log lines (default: stderr). */
  log?: (message: string) => void;
  /**
   * A decoder other than decode.ts (a replaced `imageDecoder` service). Functions cannot be sent to
   * worker threads, so it requires workers: 0.
   */
  decoder?: ImageDecoder | null;
}

export interface EpochRequest {
  samples: Sample[];
  size: number;
  crop: number | null;
  batchSize: number;
  /** Validated {use, with}; [] for validation/inference. */
  augment: PluginRef[];
  seed: number;
  epoch: number;
  shuffle: boolean;
  /** Resume inside an epoch: skip the first N batches without decoding them. */
  startBatch?: number;
}

interface PendingJob {
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

interface WorkerHandle {
  worker: Worker;
  pending: Map<number, PendingJob>;
  dead: Error | null;
}

/** The compiled worker file. Under vitest this module runs from src/*.ts, but workers need dist/*.js. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const file = compiledModuleFor(path.join(path.dirname(here), `worker${path.extname(here)}`));
  if (!file.endsWith('.js') || !fs.existsSync(file)) {
    throw new UserError(`The compiled image worker for ${file} does not exist. Build the project first (npm run build), or set train.workers: 0.`);
  }
  return file;
}

/**
 * Workers cannot import TypeScript. Under vitest callers may pass src/…/x.ts modules (e.g. the
 * built-in plugin index); workers get the compiled dist/…/x.js instead when it exists.
 */
export function compiledModuleFor(spec: string): string {
  const isFileUrl = spec.startsWith('file:');
  const file = isFileUrl ? fileURLToPath(spec) : spec;
  const marker = `${path.sep}src${path.sep}`;
  const i = file.lastIndexOf(marker);
  if (!file.endsWith('.ts') || i < 0) return spec;
  const compiled = `${file.slice(0, i)}${path.sep}dist${path.sep}${file.slice(i + marker.length, -'.ts'.length)}.js`;
  if (!fs.existsSync(compiled)) return spec;
  return isFileUrl ? pathToFileURL(compiled).href : compiled;
}

function checkInteger(value: unknown, name: string, min: number): void {
  if (!Number.isInteger(value) || (value as number) < min) {
    throw new UserError(`Image pipeline: ${name} must be an integer >= ${min}, got ${String(value)}.`);
  }
}

export class ImagePipeline {
  private readonly workers: WorkerHandle[] = [];
  private readonly registry: Promise<PluginRegistry>;
  private localMaker: Promise<BatchMaker> | null = null;
  private readonly cache: ImageCache | null;
  private readonly skippedByPath = new Map<string, string>();
  private readonly log: (message: string) => void;
  private readonly runDir: string;
  private nextJobId = 0;
  private closed = false;
  private cacheSaveFailed = false;

  constructor(private readonly opts: PipelineOptions) {
    checkInteger(opts.workers, 'workers', 0);
    checkInteger(opts.prefetch ?? 2, 'prefetch', 0);
    if (opts.badImagePolicy !== 'skip' && opts.badImagePolicy !== 'fail') {
      throw new UserError(`Image pipeline: badImagePolicy must be "skip" or "fail", got "${String(opts.badImagePolicy)}".`);
    }
    if (opts.decoder && opts.workers > 0) {
      throw new Error('Image pipeline: a replaced image decoder runs in the main thread only; pass workers: 0 with it.');
    }
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
    this.runDir = opts.runDir ?? os.tmpdir();
    this.cache = opts.cacheImages ? new ImageCache(opts.cacheDir ?? null) : null;
    this.registry = loadAugmentRegistry(opts.pluginModules, opts.configDir);
    this.registry.catch(() => {}); // surfaced by the first epoch()
    if (opts.workers > 0) {
      const file = workerFile();
      const init: WorkerInit = {
        pluginModules: opts.pluginModules.map(compiledModuleFor),
        configDir: opts.configDir,
        runDir: this.runDir,
        badImagePolicy: opts.badImagePolicy,
      };
      for (let i = 0; i < opts.workers; i++) this.workers.push(this.startWorker(file, init, i));
    }
  }

  private startWorker(file: string, init: WorkerInit, n: number): WorkerHandle {
    const worker = new Worker(file, { workerData: init, name: `gzx-image-${n}` });
    const handle: WorkerHandle = { worker, pending: new Map(), dead: null };
    // Referenced only while it owes us a batch, so a forgotten close() cannot keep the process alive.
    worker.unref();
    const failAll = (err: Error) => {
      handle.dead ??= err;
      for (const job of handle.pending.values()) job.reject(err);
      handle.pending.clear();
    };
    worker.on('message', (msg: { type: string; jobId?: number; result?: BatchResult; error?: SerializedError; message?: string }) => {
      if (msg.type === 'log') {
        this.log(msg.message ?? '');
        return;
      }
      const job = handle.pending.get(msg.jobId!);
      if (!job) return;
      handle.pending.delete(msg.jobId!);
      if (handle.pending.size === 0) worker.unref();
      if (msg.type === 'result') job.resolve(msg.result!);
      else job.reject(deserializeError(msg.error!));
    });
    worker.on('error', (e) => failAll(new Error(`image worker ${n} crashed: ${e.message}`)));
    worker.on('exit', (code) => failAll(new Error(`image worker ${n} exited (code ${code})`)));
    return handle;
  }

  private run(job: BatchJob, newSlabs: CacheSlab[]): Promise<BatchResult> {
    if (this.workers.length === 0) {
      this.localMaker ??= this.registry.then(
        (registry) =>
          new BatchMaker(
            registry,
            { configDir: this.opts.configDir, runDir: this.runDir, log: this.log },
            this.cache?.view ?? null,
            this.opts.badImagePolicy,
            this.opts.decoder ?? null,
          ),
      );
      return this.localMaker.then((maker) => maker.make(job));
    }
    const live = this.workers.filter((w) => !w.dead);
    for (const slab of newSlabs) for (const w of live) w.worker.postMessage({ type: 'slab', slab });
    if (live.length === 0) return Promise.reject(this.workers[0].dead!); // all dead, so set
    const target = live.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const jobId = this.nextJobId++;
    return new Promise<BatchResult>((resolve, reject) => {
      target.pending.set(jobId, { resolve, reject });
      target.worker.ref();
      target.worker.postMessage({ type: 'job', jobId, job });
    });
  }

  /** Batches of one epoch, in order; prefetches `prefetch` batches while the caller trains. */
  async *epoch(req: EpochRequest): AsyncGenerator<Batch> {
    if (this.closed) throw new Error('ImagePipeline.epoch() called after close()');
    checkInteger(req.batchSize, 'batchSize', 1);
    checkInteger(req.size, 'size', 1);
    checkInteger(req.startBatch ?? 0, 'startBatch', 0);
    if (req.crop !== null) checkInteger(req.crop, 'crop', 1);
    const augment = resolveAugmentRefs(await this.registry, req.augment);

    const order = req.samples.map((_, i) => i);
    if (req.shuffle) new SeededRng(deriveSeed(req.seed, req.epoch)).shuffle(order);
    const batchCount = Math.ceil(order.length / req.batchSize);
    const ahead = (this.opts.prefetch ?? 2) + 1;

    const makeJob = (b: number): [BatchJob, CacheSlab[]] => {
      const newSlabs: CacheSlab[] = [];
      const items: BatchItem[] = order.slice(b * req.batchSize, (b + 1) * req.batchSize).map((sampleIndex) => {
        const path = req.samples[sampleIndex].imagePath;
        const cache = this.cache?.slotFor(path, req.crop, req.size) ?? null;
        return { sampleIndex, path, cache };
      });
      if (this.cache) newSlabs.push(...this.cache.takeNewSlabs());
      const job = { batchIndex: b, items, crop: req.crop, size: req.size, augment, seed: req.seed, epoch: req.epoch };
      return [job, newSlabs];
    };

    const pending = new Map<number, { job: BatchJob; result: Promise<BatchResult> }>();
    let nextToSend = req.startBatch ?? 0;
    try {
      for (let b = req.startBatch ?? 0; b < batchCount; b++) {
        while (nextToSend < batchCount && nextToSend - b < ahead) {
          const [job, slabs] = makeJob(nextToSend);
          const result = this.run(job, slabs);
          result.catch(() => {}); // awaited in order below; avoids unhandled-rejection noise meanwhile
          pending.set(nextToSend++, { job, result });
        }
        const { job, result } = pending.get(b)!;
        pending.delete(b);
        let done: BatchResult;
        try {
          done = await result;
        } catch (e) {
          throw this.explain(e, job, req.samples);
        }
        for (const s of done.skipped) this.noteSkipped(s.path, s.reason);
        if (done.kept.length === 0) continue;
        const samples = done.kept.map((pos) => req.samples[job.items[pos].sampleIndex]);
        yield {
          x: done.x,
          y: labelsOf(samples),
          ids: samples.map((s) => s.id),
          n: samples.length,
          size: req.size,
          index: b,
        };
      }
    } finally {
      pending.clear(); // abandoned jobs finish in the background; their results are dropped
      this.saveCache();
    }
  }

  /** Keeps newly decoded images on disk (train.cache_images: disk); a failure costs only speed. */
  private saveCache(): void {
    if (this.cacheSaveFailed) return;
    try {
      this.cache?.save();
    } catch (e) {
      this.cacheSaveFailed = true; // said once, not after every epoch
      this.log(
        `image cache: could not save decoded images to ${this.opts.cacheDir} (${(e as Error).message}); ` +
          `later runs will decode them again. Set train.cache_dir to a writable folder, or train.cache_images: true.`,
      );
    }
  }

  private explain(e: unknown, job: BatchJob, samples: Sample[]): Error {
    if (e instanceof BadImageError) {
      const item = job.items.find((it) => it.path === e.path);
      const id = item ? ` (sample "${samples[item.sampleIndex].id}")` : '';
      return new UserError(
        `Cannot read image ${e.path}${id}: ${e.reason}. Replace or remove the file, ` +
          `or set data.with.on_bad_image: skip to skip unreadable images.`,
      );
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  /** Records a skipped image once and names it on the console (the first MAX_SKIPS_PRINTED of them). */
  private noteSkipped(file: string, reason: string): void {
    if (this.skippedByPath.has(file)) return;
    this.skippedByPath.set(file, reason);
    const n = this.skippedByPath.size;
    if (n <= MAX_SKIPS_PRINTED) this.log(`skipped image ${file}: ${reason} (data.with.on_bad_image: skip)`);
    if (n === MAX_SKIPS_PRINTED)
      this.log(`more images may be skipped: they are counted, not printed here; a run lists them all in ${SKIPPED_IMAGES_FILE}`);
  }

  /** Images dropped as unreadable so far (each path once), under badImagePolicy 'skip'. */
  skipped(): { path: string; reason: string }[] {
    return [...this.skippedByPath].map(([path, reason]) => ({ path, reason }));
  }

  /** Stops the workers; the pipeline cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.saveCache();
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

function labelsOf(samples: Sample[]): Float32Array | null {
  if (samples.some((s) => !s.labels)) return null;
  const width = samples[0].labels!.length;
  const y = new Float32Array(samples.length * width);
  samples.forEach((s, i) => y.set(s.labels!, i * width));
  return y;
}
