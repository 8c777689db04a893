// Decoded (pre-augmentation) images kept across epochs, keyed by (path, crop, size).
// Pixels live in SharedArrayBuffer slabs shared with every worker, so N workers hold one copy, not N,
// and an image decoded by one worker is a cache hit for all others.

const EMPTY = 0;
const FILLED = 1;
const BAD = 2;
/** Images per slab: big enough to keep messages rare, small enough not to over-allocate much. */
const SLAB_CAPACITY = 512;

export interface CacheSlab {
  key: string;
  index: number;
  imageBytes: number;
  pixels: SharedArrayBuffer;
  /** One Int32 per image: EMPTY, FILLED or BAD. */
  state: SharedArrayBuffer;
}

export interface CacheSlot {
  key: string;
  slot: number;
}

export function cacheKey(crop: number | null, size: number): string {
  return `${crop ?? 'full'}:${size}`;
}

/** Reads and writes slab memory; the same class runs in workers (fed slabs by message). */
export class CacheView {
  private readonly slabs = new Map<string, CacheSlab[]>();

  addSlab(slab: CacheSlab): void {
    const list = this.slabs.get(slab.key) ?? [];
    list[slab.index] = slab;
    this.slabs.set(slab.key, list);
  }

  private locate({ key, slot }: CacheSlot) {
    const slab = this.slabs.get(key)?.[Math.floor(slot / SLAB_CAPACITY)];
    if (!slab) throw new Error(`image cache: slab for slot ${slot} of ${key} was never shared with this thread`);
    return { slab, i: slot % SLAB_CAPACITY, state: new Int32Array(slab.state) };
  }

  /** A copy of the cached pixels, 'bad' for a known unreadable file, or null when not cached yet. */
  get(at: CacheSlot): Uint8Array | 'bad' | null {
    const { slab, i, state } = this.locate(at);
    const s = Atomics.load(state, i);
    if (s === BAD) return 'bad';
    if (s !== FILLED) return null;
    return new Uint8Array(slab.pixels, i * slab.imageBytes, slab.imageBytes).slice();
  }

  put(at: CacheSlot, pixels: Uint8Array): void {
    const { slab, i, state } = this.locate(at);
    if (pixels.length !== slab.imageBytes) throw new Error(`image cache: ${pixels.length} bytes for a ${slab.imageBytes}-byte slot`);
    new Uint8Array(slab.pixels, i * slab.imageBytes, slab.imageBytes).set(pixels);
    Atomics.store(state, i, FILLED); // after the pixels, so a reader never sees a half-written image
  }

  markBad(at: CacheSlot): void {
    const { i, state } = this.locate(at);
    Atomics.store(state, i, BAD);
  }
}

/** Main-thread side: assigns slots to paths and allocates slabs as the cache grows. */
export class ImageCache {
  readonly view = new CacheView();
  private readonly slots = new Map<string, Map<string, number>>();

  /** The slot for a path, and a slab to share with workers when this call allocated one. */
  slotFor(path: string, crop: number | null, size: number): { at: CacheSlot; newSlab: CacheSlab | null } {
    const key = cacheKey(crop, size);
    let table = this.slots.get(key);
    if (!table) this.slots.set(key, (table = new Map()));
    const known = table.get(path);
    if (known !== undefined) return { at: { key, slot: known }, newSlab: null };
    const slot = table.size;
    table.set(path, slot);
    let newSlab: CacheSlab | null = null;
    if (slot % SLAB_CAPACITY === 0) {
      const imageBytes = size * size * 3;
      // Zero-filled pages are only backed by memory once written, so a part-used slab costs little.
      newSlab = {
        key,
        index: slot / SLAB_CAPACITY,
        imageBytes,
        pixels: new SharedArrayBuffer(imageBytes * SLAB_CAPACITY),
        state: new SharedArrayBuffer(4 * SLAB_CAPACITY),
      };
      this.view.addSlab(newSlab);
    }
    return { at: { key, slot }, newSlab };
  }

  /** Number of images with an assigned slot (decoded or pending). */
  size(): number {
    let n = 0;
    for (const t of this.slots.values()) n += t.size;
    return n;
  }
}

export const CACHE_STATES = { EMPTY, FILLED, BAD } as const;
