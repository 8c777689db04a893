// Turns one batch job (paths + sample indices) into float pixels. Runs unchanged in the main thread
// (workers: 0) and in worker threads, which is what keeps results independent of the worker count.
import type { Augmentation, RawImage } from '../../framework/contracts.js';
import type { PluginRef } from '../../framework/experiment-config.js';
import type { PluginRegistry } from '../../framework/registry.js';
import { SeededRng, deriveSeed } from '../../base/random.js';
import { BadImageError, decodeImage, toFloat } from './decode.js';
import { applyAugmentations, createAugmentations, type AugmentEnv } from './augmentations.js';
import type { CacheSlot, CacheView } from './cache.js';
import type { ImageDecoder } from '../../framework/services.js';

export interface BatchItem {
  /** Position of the sample in the epoch request's `samples` (seeds its augmentation). */
  sampleIndex: number;
  path: string;
  cache: CacheSlot | null;
}

export interface BatchJob {
  batchIndex: number;
  items: BatchItem[];
  crop: number | null;
  size: number;
  /** Already validated, defaults filled. */
  augment: PluginRef[];
  seed: number;
  epoch: number;
}

export interface BatchResult {
  batchIndex: number;
  x: Float32Array;
  /** Positions (into job.items) of the images in x, in order. */
  kept: number[];
  skipped: { path: string; reason: string }[];
}

/** Decodes at most this many images of a batch at once (libuv's default pool has 4 threads). */
const DECODE_CONCURRENCY = 4;

export class BatchMaker {
  private readonly chains = new Map<string, Promise<Augmentation[]>>();

  constructor(
    private readonly registry: PluginRegistry,
    private readonly env: Omit<AugmentEnv, 'seed'>,
    private readonly cache: CacheView | null,
    private readonly badImagePolicy: 'skip' | 'fail',
    /** The run's `imageDecoder` service (main thread only); workers use decode.ts directly. */
    private readonly decoder: ImageDecoder | null = null,
  ) {}

  private chain(refs: PluginRef[], seed: number): Promise<Augmentation[]> {
    const key = JSON.stringify([seed, refs]);
    let chain = this.chains.get(key);
    if (!chain) {
      chain = createAugmentations(this.registry, refs, { ...this.env, seed });
      this.chains.set(key, chain);
      chain.catch(() => this.chains.delete(key));
    }
    return chain;
  }

  private async load(item: BatchItem, crop: number | null, size: number): Promise<RawImage> {
    const cached = item.cache && this.cache ? this.cache.get(item.cache) : null;
    if (cached === 'bad') throw new BadImageError(item.path, 'unreadable (reported earlier)');
    if (cached) return { data: cached, width: size, height: size, channels: 3 };
    try {
      const image = this.decoder ? await this.decoder.decode(item.path, { crop, size }) : await decodeImage(item.path, { crop, size });
      if (item.cache && this.cache) this.cache.put(item.cache, image.data);
      return image;
    } catch (e) {
      if (e instanceof BadImageError && item.cache && this.cache) this.cache.markBad(item.cache);
      throw e;
    }
  }

  async make(job: BatchJob): Promise<BatchResult> {
    const chain = await this.chain(job.augment, job.seed);
    const images: (RawImage | null)[] = new Array(job.items.length).fill(null);
    const skipped: { pos: number; path: string; reason: string }[] = [];
    let next = 0;
    let failure: unknown = null;
    const run = async () => {
      while (next < job.items.length && failure === null) {
        const pos = next++;
        const item = job.items[pos];
        try {
          const image = await this.load(item, job.crop, job.size);
          const rng = new SeededRng(deriveSeed(job.seed, job.epoch, item.sampleIndex));
          images[pos] = await applyAugmentations(chain, job.augment, image, rng);
        } catch (e) {
          if (e instanceof BadImageError && this.badImagePolicy === 'skip') skipped.push({ pos, path: e.path, reason: e.reason });
          else failure ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, job.items.length) }, run));
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what decoding threw
    if (failure !== null) throw failure;

    const kept: number[] = [];
    images.forEach((im, pos) => im && kept.push(pos));
    const x = toFloat(kept.map((pos) => images[pos]!));
    // Sorted by position: decode order depends on timing, the report should not.
    skipped.sort((a, b) => a.pos - b.pos);
    return { batchIndex: job.batchIndex, x, kept, skipped: skipped.map(({ path, reason }) => ({ path, reason })) };
  }
}
