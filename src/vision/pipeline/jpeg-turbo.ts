// JPEG decoding with libjpeg-turbo compiled to WebAssembly (@cwasm/jpeg-turbo), scaled in the DCT.
//
// Why not sharp here: on a 424-px galaxy libvips spends ~3 CPU ms per image, most of it in its own
// per-image machinery rather than in the JPEG arithmetic (bench/README.md); TurboJPEG decoding at
// 1/4 size costs ~0.6 ms even as portable wasm, and gives the same pixels on every platform.
// The package's own decode() has no scaling, so its module is driven through the TurboJPEG C API
// it exports (tjDecompressHeader3, tjDecompress2), which scales when asked for a smaller size.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { RawImage } from '../../framework/contracts.js';

interface TurboExports {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(pointer: number): void;
  tjInitDecompress(): number;
  tjDecompressHeader3(handle: number, jpeg: number, size: number, width: number, height: number, subsampling: number, colourspace: number): number;
  tjDecompress2(
    handle: number,
    jpeg: number,
    size: number,
    out: number,
    width: number,
    pitch: number,
    height: number,
    pixelFormat: number,
    flags: number,
  ): number;
}

const TJPF_RGB = 0;
/** TJCS_CMYK and TJCS_YCCK: left to sharp, which converts them to sRGB properly. */
const CMYK_COLOURSPACES = new Set([3, 4]);

let compiled: WebAssembly.Module | null | undefined;

function loadModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      const file = createRequire(import.meta.url).resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm');
      compiled = new WebAssembly.Module(fs.readFileSync(file));
    } catch {
      compiled = null; // not installed: every JPEG goes through sharp
    }
  }
  return compiled;
}

/** JPEG scaling factors TurboJPEG supports below 1: n/8. */
export const SCALE_DENOMINATOR = 8;

/** TurboJPEG's scaled side (TJSCALED): rounded up. */
export function scaledSide(side: number, eighths: number): number {
  return Math.ceil((side * eighths) / SCALE_DENOMINATOR);
}

export class TurboJpeg {
  private exports: TurboExports | null = null;
  private handle = 0;

  /** Whether the wasm module loaded (it is an npm dependency; missing only in a broken install). */
  static available(): boolean {
    return loadModule() !== null;
  }

  private instance(): TurboExports | null {
    if (this.exports) return this.exports;
    const module = loadModule();
    if (!module) return null;
    // libjpeg reports fatal errors through longjmp, which this build cannot do: throwing leaves the
    // instance's C stack unwound, so a failed decode discards the instance (see decode).
    const env = {
      setjmp: () => 0,
      longjmp: () => {
        throw new Error('libjpeg error');
      },
    };
    const unsupported = () => {
      throw new Error('system call not available');
    };
    const wasi = {
      environ_sizes_get: () => 0,
      environ_get: unsupported,
      proc_exit: unsupported,
      fd_close: unsupported,
      fd_seek: unsupported,
      fd_write: unsupported,
    };
    const exports = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi }).exports as unknown as TurboExports;
    const handle = exports.tjInitDecompress();
    if (handle === 0) return null;
    this.exports = exports;
    this.handle = handle;
    return exports;
  }

  /**
   * Decodes `jpeg` at `eighths`/8 of its size (1…8) to RGB, or returns null when TurboJPEG cannot
   * (corrupt or truncated data, a warning, CMYK): the caller then decodes with sharp, which reports
   * the problem in its own words.
   */
  decode(jpeg: Uint8Array, eighths: number): RawImage | null {
    const x = this.instance();
    if (!x) return null;
    let input = 0;
    let meta = 0;
    let output = 0;
    try {
      input = x.malloc(jpeg.length);
      meta = x.malloc(16);
      if (!input || !meta) return null;
      new Uint8Array(x.memory.buffer, input, jpeg.length).set(jpeg);
      if (x.tjDecompressHeader3(this.handle, input, jpeg.length, meta, meta + 4, meta + 8, meta + 12) !== 0) return null;
      const [width, height, , colourspace] = new Int32Array(x.memory.buffer, meta, 4);
      if (CMYK_COLOURSPACES.has(colourspace)) return null;
      const w = scaledSide(width, eighths);
      const h = scaledSide(height, eighths);
      output = x.malloc(w * h * 3);
      if (!output) return null;
      // Non-zero also on libjpeg warnings (a truncated file): never return grey-filled rows.
      if (x.tjDecompress2(this.handle, input, jpeg.length, output, w, w * 3, h, TJPF_RGB, 0) !== 0) return null;
      return { data: new Uint8Array(x.memory.buffer, output, w * h * 3).slice(), width: w, height: h, channels: 3 };
    } catch {
      this.exports = null; // a longjmp escaped: start again from a fresh instance
      return null;
    } finally {
      if (this.exports) {
        x.free(input);
        x.free(meta);
        x.free(output);
      }
    }
  }
}
