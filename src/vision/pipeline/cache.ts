// Decoded (pre-augmentation) images kept across epochs, keyed by (path, crop, size).
// Pixels live in SharedArrayBuffer slabs shared with every worker, so N workers hold one copy, not N,
// and an image decoded by one worker is a cache hit for all others. With a disk folder the cache
// also outlives the run: a later run with the same crop and size decodes nothing already decoded.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';

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

  /** EMPTY, FILLED or BAD. */
  state(at: CacheSlot): number {
    const { i, state } = this.locate(at);
    return Atomics.load(state, i);
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

/** Bumped whenever decoding, cropping or resizing changes what a cached image holds. */
const DISK_FORMAT = 2; // 2: JPEGs decoded by TurboJPEG + area mean instead of sharp

/**
 * The folder of `train.cache_images: disk`: `train.cache_dir` relative to the config's folder, else
 * $GZX_CACHE_DIR, else the XDG cache folder.
 */
export function diskCacheDir(configured: string | null, configDir: string): string {
  if (configured) return nodePath.resolve(configDir, configured);
  if (process.env.GZX_CACHE_DIR) return process.env.GZX_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || nodePath.join(os.homedir(), '.cache');
  return nodePath.join(base, 'gzx', 'images');
}

/** One image folder at one (crop, size): the unit saved to and loaded from disk. */
interface DiskGroup {
  key: string;
  size: number;
  imageDir: string;
  /** Absolute paths of the group's images, in slot order. */
  paths: string[];
  /** Decoded or known-bad images when last loaded or saved: more means there is news to save. */
  settled: number;
}

interface DiskIndex {
  format: number;
  key: string;
  imageDir: string;
  imageBytes: number;
  bin: string;
  /** [file name, bytes, mtime ms, FILLED | BAD]; FILLED images follow each other in `bin`. */
  entries: [string, number, number, number][];
}

/** Main-thread side: assigns slots to paths, allocates slabs as the cache grows, saves and loads. */
export class ImageCache {
  readonly view = new CacheView();
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly groups = new Map<string, DiskGroup>();
  private unshared: CacheSlab[] = [];

  /** `diskDir`: folder where decoded images are kept between runs; null = this process only. */
  constructor(private readonly diskDir: string | null = null) {}

  /** The slot for a path (loading its folder's saved images first, when kept on disk). */
  slotFor(path: string, crop: number | null, size: number): CacheSlot {
    const key = cacheKey(crop, size);
    if (this.diskDir) this.group(key, nodePath.dirname(path), size);
    return { key, slot: this.assign(key, path, size) };
  }

  /** Slabs allocated since the last call: to be shared with every worker before they are used. */
  takeNewSlabs(): CacheSlab[] {
    const slabs = this.unshared;
    this.unshared = [];
    return slabs;
  }

  /** Number of images with an assigned slot (decoded or pending). */
  size(): number {
    let n = 0;
    for (const t of this.slots.values()) n += t.size;
    return n;
  }

  /**
   * Writes every folder with newly decoded images to the disk folder (no-op without one). Written
   * to new files and then renamed, so an interrupted save leaves the previous cache intact.
   */
  save(): number {
    if (!this.diskDir) return 0;
    let written = 0;
    for (const g of this.groups.values()) {
      const done = g.paths.filter((p) => this.stateOf(g.key, p) !== EMPTY);
      if (done.length <= g.settled) continue;
      fs.mkdirSync(this.diskDir, { recursive: true });
      const base = groupFile(this.diskDir, g.key, g.imageDir);
      const bin = `${nodePath.basename(base)}.${crypto.randomBytes(4).toString('hex')}.bin`;
      const entries: DiskIndex['entries'] = [];
      const fd = fs.openSync(nodePath.join(this.diskDir, bin), 'w');
      try {
        for (const p of done) {
          let stat: fs.Stats;
          try {
            stat = fs.statSync(p);
          } catch {
            continue; // gone since it was decoded: nothing to check a later run against
          }
          const pixels = this.view.get({ key: g.key, slot: this.slots.get(g.key)!.get(p)! });
          if (pixels !== 'bad' && pixels) fs.writeSync(fd, pixels);
          entries.push([nodePath.basename(p), stat.size, stat.mtimeMs, pixels === 'bad' ? BAD : FILLED]);
        }
      } finally {
        fs.closeSync(fd);
      }
      const index: DiskIndex = { format: DISK_FORMAT, key: g.key, imageDir: g.imageDir, imageBytes: g.size * g.size * 3, bin, entries };
      const previous = readIndex(`${base}.json`);
      fs.writeFileSync(`${base}.json.tmp`, JSON.stringify(index));
      fs.renameSync(`${base}.json.tmp`, `${base}.json`);
      if (previous && previous.bin !== bin) fs.rmSync(nodePath.join(this.diskDir, previous.bin), { force: true });
      g.settled = done.length;
      written += entries.length;
    }
    return written;
  }

  private assign(key: string, path: string, size: number): number {
    let table = this.slots.get(key);
    if (!table) this.slots.set(key, (table = new Map()));
    const known = table.get(path);
    if (known !== undefined) return known;
    const slot = table.size;
    table.set(path, slot);
    this.groups.get(`${key}|${nodePath.dirname(path)}`)?.paths.push(path);
    if (slot % SLAB_CAPACITY === 0) {
      const imageBytes = size * size * 3;
      // Zero-filled pages are only backed by memory once written, so a part-used slab costs little.
      const slab: CacheSlab = {
        key,
        index: slot / SLAB_CAPACITY,
        imageBytes,
        pixels: new SharedArrayBuffer(imageBytes * SLAB_CAPACITY),
        state: new SharedArrayBuffer(4 * SLAB_CAPACITY),
      };
      this.view.addSlab(slab);
      this.unshared.push(slab);
    }
    return slot;
  }

  private stateOf(key: string, path: string): number {
    return this.view.state({ key, slot: this.slots.get(key)!.get(path)! });
  }

  /** The folder's group, loading what an earlier run saved for it (images unchanged since). */
  private group(key: string, imageDir: string, size: number): void {
    const id = `${key}|${imageDir}`;
    if (this.groups.has(id)) return;
    const g: DiskGroup = { key, size, imageDir, paths: [], settled: 0 };
    this.groups.set(id, g);
    const index = readIndex(`${groupFile(this.diskDir!, key, imageDir)}.json`);
    if (!index || index.format !== DISK_FORMAT || index.key !== key || index.imageDir !== imageDir) return;
    const imageBytes = size * size * 3;
    if (index.imageBytes !== imageBytes) return;
    let fd: number;
    try {
      fd = fs.openSync(nodePath.join(this.diskDir!, index.bin), 'r');
    } catch {
      return; // the pixels went missing: decode again
    }
    try {
      const pixels = new Uint8Array(imageBytes);
      let offset = 0;
      for (const [name, bytes, mtimeMs, state] of index.entries) {
        const path = nodePath.join(imageDir, name);
        const here = state === FILLED ? offset : -1;
        if (state === FILLED) offset += imageBytes;
        let stat: fs.Stats;
        try {
          stat = fs.statSync(path);
        } catch {
          continue;
        }
        // A file changed since it was cached is decoded again (mtime to the millisecond: copies and
        // backups often keep no finer).
        if (stat.size !== bytes || Math.abs(stat.mtimeMs - mtimeMs) >= 1) continue;
        const at = { key, slot: this.assign(key, path, size) };
        if (state === BAD) {
          this.view.markBad(at);
        } else {
          if (fs.readSync(fd, pixels, 0, imageBytes, here) !== imageBytes) break; // truncated file
          this.view.put(at, pixels);
        }
        g.settled += 1;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

function groupFile(dir: string, key: string, imageDir: string): string {
  const hash = crypto.createHash('sha1').update(`${DISK_FORMAT}\0${key}\0${imageDir}`).digest('hex').slice(0, 16);
  return nodePath.join(dir, `${key.replace(/[^a-z0-9]+/gi, '-')}-${hash}`);
}

function readIndex(file: string): DiskIndex | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DiskIndex;
  } catch {
    return null; // none yet, or unreadable: start afresh
  }
}

export const CACHE_STATES = { EMPTY, FILLED, BAD } as const;
