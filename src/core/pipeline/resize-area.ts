// Area-average (box filter) downscaling of a window of an 8-bit RGB image, as OpenCV's INTER_AREA.
// Written here rather than with sharp: libvips costs ~2 CPU ms per call on a galaxy before any pixel
// arithmetic (bench/README.md); after TurboJPEG's DCT scaling this pass is a fraction of that.
import type { RawImage } from '../contracts.js';

/** A rectangle in source pixels; edges may fall between pixels. */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Per output index along one axis: the first source index and the weights of the sources it covers. */
interface Taps {
  first: Int32Array;
  /** Weights of output i are weights[offset[i] … offset[i + 1]); they sum to 1. */
  offset: Int32Array;
  weights: Float64Array;
}

const tapsCache = new Map<string, Taps>();

function taps(start: number, length: number, out: number): Taps {
  const key = `${start}:${length}:${out}`;
  const known = tapsCache.get(key);
  if (known) return known;
  const scale = length / out;
  const first = new Int32Array(out);
  const offset = new Int32Array(out + 1);
  const weights: number[] = [];
  for (let i = 0; i < out; i++) {
    const from = start + i * scale;
    const to = start + (i + 1) * scale;
    const lo = Math.floor(from + 1e-9);
    const hi = Math.ceil(to - 1e-9);
    first[i] = lo;
    offset[i] = weights.length;
    for (let j = lo; j < hi; j++) weights.push((Math.min(to, j + 1) - Math.max(from, j)) / scale);
  }
  offset[out] = weights.length;
  const result = { first, offset, weights: Float64Array.from(weights) };
  if (tapsCache.size > 64) tapsCache.clear(); // a run uses a handful of (window, size) pairs
  tapsCache.set(key, result);
  return result;
}

/**
 * The `window` of `image` averaged down to size × size: each output pixel is the mean of the
 * source area it covers. Only shrinks: the window must be at least size × size and inside the image.
 */
export function resizeArea(image: RawImage, window: Window, size: number): RawImage {
  const { width: w, height: h, channels, data: src } = image;
  if (channels !== 3) throw new Error(`resizeArea takes RGB images, got ${channels} channels`);
  if (window.width < size || window.height < size) {
    throw new Error(`resizeArea only shrinks: window ${window.width}×${window.height} is smaller than ${size}×${size}`);
  }
  if (window.left < 0 || window.top < 0 || window.left + window.width > w + 1e-9 || window.top + window.height > h + 1e-9) {
    throw new Error(`resizeArea: window ${JSON.stringify(window)} is not inside the ${w}×${h} image`);
  }
  if (window.width === size && window.height === size && Number.isInteger(window.left) && Number.isInteger(window.top)) {
    return copyWindow(image, window.left, window.top, size); // 1:1 (e.g. crop 224 at 112 px, decoded at 1/2)
  }
  const xs = taps(window.left, window.width, size);
  const ys = taps(window.top, window.height, size);
  // Rows the window touches, filtered horizontally, then combined vertically. Two small functions
  // rather than one: V8 optimises each loop nest ~2× better on its own.
  const rowStart = ys.first[0];
  const rowEnd = ys.first[size - 1] + (ys.offset[size] - ys.offset[size - 1]);
  const rows = horizontalPass(src, w, xs, rowStart, rowEnd, size);
  return { data: verticalPass(rows, ys, rowStart, size), width: size, height: size, channels: 3 };
}

function copyWindow(image: RawImage, left: number, top: number, size: number): RawImage {
  const row = size * 3;
  const out = new Uint8Array(size * row);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + row), y * row);
  }
  return { data: out, width: size, height: size, channels: 3 };
}

/** Rows rowStart…rowEnd of an RGB image of width w, each filtered to `size` pixels by `xs`. */
function horizontalPass(src: Uint8Array, w: number, xs: Taps, rowStart: number, rowEnd: number, size: number): Float32Array {
  const { first, offset, weights } = xs;
  const rows = new Float32Array((rowEnd - rowStart) * size * 3);
  // Written out per channel: faster than a loop over channels.
  for (let y = rowStart, o = 0; y < rowEnd; y++) {
    const srcRow = y * w * 3;
    for (let x = 0; x < size; x++, o += 3) {
      let r = 0;
      let g = 0;
      let b = 0;
      const k1 = offset[x + 1];
      for (let k = offset[x], s = srcRow + first[x] * 3; k < k1; k++, s += 3) {
        const wt = weights[k];
        r += src[s] * wt;
        g += src[s + 1] * wt;
        b += src[s + 2] * wt;
      }
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  return rows;
}

/** The filtered rows combined by `ys` into size × size RGB, rounded to 8 bits. */
function verticalPass(rows: Float32Array, ys: Taps, rowStart: number, size: number): Uint8Array {
  const { first, offset, weights } = ys;
  const rowOut = size * 3;
  const out = new Uint8Array(size * rowOut);
  for (let y = 0; y < size; y++) {
    const k0 = offset[y];
    const k1 = offset[y + 1];
    const r0 = (first[y] - rowStart) * rowOut;
    const o = y * rowOut;
    for (let i = 0; i < rowOut; i++) {
      let v = 0.5; // rounds to nearest when truncated below
      for (let k = k0, r = r0 + i; k < k1; k++, r += rowOut) v += rows[r] * weights[k];
      out[o + i] = v; // in [0.5, 255.5): Uint8Array truncates
    }
  }
  return out;
}
