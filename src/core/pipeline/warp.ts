// Affine resampling of small RawImages for the rotate and zoom augmentations.
// Written here rather than with sharp: sharp needs two pipelines per image for pad → rotate → crop
// and lands the centre half a pixel off on odd canvases; this is one bilinear pass about the exact
// image centre, exact at multiples of 90°, with reflection (symmetric) or zero padding.
import type { RawImage } from '../contracts.js';

export type Padding = 'reflection' | 'zeros';

/** Index into [0, n) mirrored about the edges (…2 1 0 | 0 1 2 … n-1 | n-1 n-2 …). */
function reflectIndex(i: number, n: number): number {
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
 */
export function warpAffine(image: RawImage, matrix: [number, number, number, number], padding: Padding): RawImage {
  const { width: w, height: h, channels: ch, data: src } = image;
  const [a, b, c, d] = matrix.map(snap);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const out = new Uint8Array(src.length);
  const acc = new Float64Array(ch);
  const reflect = padding === 'reflection';
  for (let y = 0; y < h; y++) {
    const dy = y - cy;
    for (let x = 0; x < w; x++) {
      const dx = x - cx;
      const sx = a * dx + b * dy + cx;
      const sy = c * dx + d * dy + cy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      acc.fill(0);
      for (let k = 0; k < 4; k++) {
        const xi = x0 + (k & 1);
        const yi = y0 + (k >> 1);
        const weight = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
        if (weight === 0) continue;
        let px = xi;
        let py = yi;
        if (reflect) {
          px = reflectIndex(xi, w);
          py = reflectIndex(yi, h);
        } else if (xi < 0 || yi < 0 || xi >= w || yi >= h) {
          continue; // zero padding
        }
        const base = (py * w + px) * ch;
        for (let q = 0; q < ch; q++) acc[q] += weight * src[base + q];
      }
      const o = (y * w + x) * ch;
      for (let q = 0; q < ch; q++) out[o + q] = Math.min(255, Math.max(0, Math.round(acc[q])));
    }
  }
  return { data: out, width: w, height: h, channels: ch };
}
