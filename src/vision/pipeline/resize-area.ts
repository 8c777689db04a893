// Area-average (box filter) downscaling of a window of an 8-bit RGB image, as OpenCV's INTER_AREA.
// Written here rather than with sharp: libvips costs ~2 CPU ms per call on a galaxy before any pixel
// arithmetic (bench/README.md); after TurboJPEG's DCT scaling this pass is a fraction of that.
import type { RawImage } from '../../framework/contracts.js';

/** A rectangle in source pixels; edges may fall between pixels. */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Per output index along one axis: `count` consecutive source indices from first[i], with weights
 * weights[i·count …]. Outputs covering fewer sources get zero weights (exact: adding 0·v changes no
 * sum), their first index moved back where needed to stay inside [min, max). A fixed tap count lets
 * the passes below run unrolled 2- and 3-tap loops: 1.2–1.3× faster than a variable count per output.
 */
interface Taps {
  count: number;
  first: Int32Array;
  /** They sum to 1 for each output. */
  weights: Float64Array;
}

const tapsCache = new Map<string, Taps>();

function taps(start: number, length: number, out: number, min: number, max: number): Taps {
  const key = `${start}:${length}:${out}:${min}:${max}`;
  const known = tapsCache.get(key);
  if (known) return known;
  const scale = length / out;
  const spans: { lo: number; weights: number[] }[] = [];
  for (let i = 0; i < out; i++) {
    const from = start + i * scale;
    const to = start + (i + 1) * scale;
    const lo = Math.floor(from + 1e-9);
    const hi = Math.ceil(to - 1e-9);
    const weights: number[] = [];
    for (let j = lo; j < hi; j++) weights.push((Math.min(to, j + 1) - Math.max(from, j)) / scale);
    spans.push({ lo, weights });
  }
  const count = Math.max(...spans.map((t) => t.weights.length));
  const first = new Int32Array(out);
  const weights = new Float64Array(out * count);
  spans.forEach(({ lo, weights: w }, i) => {
    const at = Math.max(min, Math.min(lo, max - count));
    first[i] = at;
    weights.set(w, i * count + (lo - at));
  });
  const result = { count, first, weights };
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
  // Rows the window touches, filtered horizontally, then combined vertically. Separate functions
  // rather than one: V8 optimises each loop nest ~2× better on its own.
  const rowStart = Math.floor(window.top + 1e-9);
  const rowEnd = Math.min(h, Math.ceil(window.top + window.height - 1e-9));
  const xs = taps(window.left, window.width, size, 0, w);
  const ys = taps(window.top, window.height, size, rowStart, rowEnd);
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
  const rows = new Float32Array((rowEnd - rowStart) * size * 3);
  for (let y = rowStart; y < rowEnd; y++) {
    const from = y * w * 3;
    const to = (y - rowStart) * size * 3;
    if (xs.count === 2) horizontal2(src, from, rows, to, xs, size);
    else if (xs.count === 3) horizontal3(src, from, rows, to, xs, size);
    else horizontalN(src, from, rows, to, xs, size);
  }
  return rows;
}

// One function per tap count, each channel written out: the sums run in the same order as the
// general loop, so every tap count gives the same bits.
function horizontal2(src: Uint8Array, from: number, rows: Float32Array, to: number, xs: Taps, size: number): void {
  const { first, weights } = xs;
  for (let x = 0, o = to, k = 0; x < size; x++, o += 3, k += 2) {
    const s = from + first[x] * 3;
    const w0 = weights[k];
    const w1 = weights[k + 1];
    rows[o] = src[s] * w0 + src[s + 3] * w1;
    rows[o + 1] = src[s + 1] * w0 + src[s + 4] * w1;
    rows[o + 2] = src[s + 2] * w0 + src[s + 5] * w1;
  }
}

function horizontal3(src: Uint8Array, from: number, rows: Float32Array, to: number, xs: Taps, size: number): void {
  const { first, weights } = xs;
  for (let x = 0, o = to, k = 0; x < size; x++, o += 3, k += 3) {
    const s = from + first[x] * 3;
    const w0 = weights[k];
    const w1 = weights[k + 1];
    const w2 = weights[k + 2];
    rows[o] = src[s] * w0 + src[s + 3] * w1 + src[s + 6] * w2;
    rows[o + 1] = src[s + 1] * w0 + src[s + 4] * w1 + src[s + 7] * w2;
    rows[o + 2] = src[s + 2] * w0 + src[s + 5] * w1 + src[s + 8] * w2;
  }
}

function horizontalN(src: Uint8Array, from: number, rows: Float32Array, to: number, xs: Taps, size: number): void {
  const { count, first, weights } = xs;
  for (let x = 0, o = to; x < size; x++, o += 3) {
    let r = 0;
    let g = 0;
    let b = 0;
    for (let k = x * count, s = from + first[x] * 3, end = k + count; k < end; k++, s += 3) {
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

/** The filtered rows combined by `ys` into size × size RGB, rounded to 8 bits. */
function verticalPass(rows: Float32Array, ys: Taps, rowStart: number, size: number): Uint8Array {
  const { count, first, weights } = ys;
  const rowOut = size * 3;
  const out = new Uint8Array(size * rowOut);
  for (let y = 0; y < size; y++) {
    const r0 = (first[y] - rowStart) * rowOut;
    const o = y * rowOut;
    const k = y * count;
    if (count === 2) vertical2(rows, r0, rowOut, weights[k], weights[k + 1], out, o);
    else if (count === 3) vertical3(rows, r0, rowOut, weights[k], weights[k + 1], weights[k + 2], out, o);
    else verticalN(rows, r0, rowOut, weights, k, count, out, o);
  }
  return out;
}

// 0.5 + the sum rounds to nearest when the Uint8Array truncates it (the sum is in [0, 255]).
function vertical2(rows: Float32Array, r0: number, rowOut: number, w0: number, w1: number, out: Uint8Array, o: number): void {
  const r1 = r0 + rowOut;
  for (let i = 0; i < rowOut; i++) out[o + i] = 0.5 + rows[r0 + i] * w0 + rows[r1 + i] * w1;
}

function vertical3(rows: Float32Array, r0: number, rowOut: number, w0: number, w1: number, w2: number, out: Uint8Array, o: number): void {
  const r1 = r0 + rowOut;
  const r2 = r1 + rowOut;
  for (let i = 0; i < rowOut; i++) out[o + i] = 0.5 + rows[r0 + i] * w0 + rows[r1 + i] * w1 + rows[r2 + i] * w2;
}

function verticalN(
  rows: Float32Array,
  r0: number,
  rowOut: number,
  weights: Float64Array,
  k0: number,
  count: number,
  out: Uint8Array,
  o: number,
): void {
  for (let i = 0; i < rowOut; i++) {
    let v = 0.5;
    for (let k = k0, r = r0 + i; k < k0 + count; k++, r += rowOut) v += rows[r] * weights[k];
    out[o + i] = v;
  }
}
