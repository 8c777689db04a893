// Affine resampling of small RawImages for the rotate and zoom augmentations.
// Written here rather than with sharp: sharp needs two pipelines per image for pad → rotate → crop
// and lands the centre half a pixel off on odd canvases; this is one bilinear pass about the exact
// image centre, exact at multiples of 90°, with reflection (symmetric) or zero padding.
import type { AffineDraw, Augmentation, RawImage, Rng } from '../../framework/contracts.js';

export type Padding = NonNullable<AffineDraw['padding']>;
type Matrix = AffineDraw['matrix'];

/** a·b for 2×2 matrices [a, b, c, d] = [[a, b], [c, d]]. */
export function multiply([a, b, c, d]: Matrix, [e, f, g, h]: Matrix): Matrix {
  return [a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h];
}

/** Mirrors an image exactly (a copy, no resampling). */
export function mirror(image: RawImage, horizontal: boolean, vertical: boolean): RawImage {
  const { width: w, height: h, channels: ch, data: src } = image;
  const out = new Uint8Array(src.length);
  const row = w * ch;
  for (let y = 0; y < h; y++) {
    const from = (vertical ? h - 1 - y : y) * row;
    const to = y * row;
    if (!horizontal) {
      out.set(src.subarray(from, from + row), to);
      continue;
    }
    for (let x = 0; x < w; x++) {
      const s = from + (w - 1 - x) * ch;
      const o = to + x * ch;
      for (let q = 0; q < ch; q++) out[o + q] = src[s + q];
    }
  }
  return { data: out, width: w, height: h, channels: ch };
}

/**
 * Applies a draw: the image itself for the identity, a copy for flips, otherwise one bilinear
 * resampling (reflection padding where the draw leaves it open).
 */
export function applyAffineDraw(image: RawImage, draw: AffineDraw): RawImage {
  const [a, b, c, d] = draw.matrix.map(snap);
  if (b === 0 && c === 0 && Math.abs(a) === 1 && Math.abs(d) === 1) {
    return a === 1 && d === 1 ? image : mirror(image, a === -1, d === -1);
  }
  return warpAffine(image, [a, b, c, d], draw.padding ?? 'reflection');
}

/** An augmentation defined by its per-image draw: the pipeline can compose it with its neighbours. */
export function affineAugmentation(affine: (rng: Rng) => AffineDraw): Augmentation {
  return { affine, apply: (image, rng) => applyAffineDraw(image, affine(rng)) };
}

/** Index into [0, n) mirrored about the edges (…2 1 0 | 0 1 2 … n-1 | n-1 n-2 …). */
function reflectIndex(i: number, n: number): number {
  if (i >= 0 && i < n) return i;
  if (i < 0 && i >= -n) return -1 - i;
  if (i >= n && i < 2 * n) return 2 * n - 1 - i;
  const period = 2 * n;
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/** Snaps matrix entries within 1e-12 of an integer, so 90° turns copy pixels exactly. */
function snap(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-12 ? r : v;
}

/**
 * Output pixel (x, y) takes the source value at centre + M·((x, y) − centre), bilinearly
 * interpolated; M = [[a, b], [c, d]] maps output offsets to source offsets.
 * Weights are 8-bit fixed point (error < 0.5 grey level): ~1.4× faster than float weights.
 */
export function warpAffine(image: RawImage, matrix: [number, number, number, number], padding: Padding): RawImage {
  const { width: w, height: h, channels: ch, data: src } = image;
  const [a, b, c, d] = matrix.map(snap);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const out = new Uint8Array(src.length);
  const reflect = padding === 'reflection';
  const row = w * ch;
  for (let y = 0; y < h; y++) {
    const dy = y - cy;
    // Source position of (0, y), then stepped by (a, c) per output pixel; with a snapped integer
    // matrix (multiples of 90°) every step is exact.
    let sx = -a * cx + b * dy + cx;
    let sy = -c * cx + d * dy + cy;
    for (let x = 0; x < w; x++, sx += a, sy += c) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = ((sx - x0) * 256 + 0.5) | 0;
      const fy = ((sy - y0) * 256 + 0.5) | 0;
      const w00 = (256 - fx) * (256 - fy);
      const w10 = fx * (256 - fy);
      const w01 = (256 - fx) * fy;
      const w11 = fx * fy;
      const o = (y * w + x) * ch;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        // All four neighbours inside: the common case, no padding logic. Weights sum to 2^16.
        const i = y0 * row + x0 * ch;
        const j = i + row;
        if (ch === 3) {
          out[o] = (w00 * src[i] + w10 * src[i + 3] + w01 * src[j] + w11 * src[j + 3] + 32768) >> 16;
          out[o + 1] = (w00 * src[i + 1] + w10 * src[i + 4] + w01 * src[j + 1] + w11 * src[j + 4] + 32768) >> 16;
          out[o + 2] = (w00 * src[i + 2] + w10 * src[i + 5] + w01 * src[j + 2] + w11 * src[j + 5] + 32768) >> 16;
        } else {
          for (let q = 0; q < ch; q++) {
            out[o + q] = (w00 * src[i + q] + w10 * src[i + ch + q] + w01 * src[j + q] + w11 * src[j + ch + q] + 32768) >> 16;
          }
        }
        continue;
      }
      let i00 = -1;
      let i10 = -1;
      let i01 = -1;
      let i11 = -1;
      if (reflect) {
        const xa = reflectIndex(x0, w) * ch;
        const xb = reflectIndex(x0 + 1, w) * ch;
        const ya = reflectIndex(y0, h) * row;
        const yb = reflectIndex(y0 + 1, h) * row;
        i00 = ya + xa;
        i10 = ya + xb;
        i01 = yb + xa;
        i11 = yb + xb;
      } else {
        const inX0 = x0 >= 0 && x0 < w;
        const inX1 = x0 + 1 >= 0 && x0 + 1 < w;
        const inY0 = y0 >= 0 && y0 < h;
        const inY1 = y0 + 1 >= 0 && y0 + 1 < h;
        if (inX0 && inY0) i00 = y0 * row + x0 * ch;
        if (inX1 && inY0) i10 = y0 * row + (x0 + 1) * ch;
        if (inX0 && inY1) i01 = (y0 + 1) * row + x0 * ch;
        if (inX1 && inY1) i11 = (y0 + 1) * row + (x0 + 1) * ch;
      }
      for (let q = 0; q < ch; q++) {
        // Zero padding: a neighbour outside the image contributes 0.
        const v =
          (i00 < 0 ? 0 : w00 * src[i00 + q]) +
          (i10 < 0 ? 0 : w10 * src[i10 + q]) +
          (i01 < 0 ? 0 : w01 * src[i01 + q]) +
          (i11 < 0 ? 0 : w11 * src[i11 + q]);
        out[o + q] = (v + 32768) >> 16;
      }
    }
  }
  return { data: out, width: w, height: h, channels: ch };
}
