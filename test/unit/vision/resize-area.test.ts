import { describe, it, expect } from 'vitest';
import { resizeArea } from '../../../src/vision/pipeline/resize-area.js';
import type { RawImage } from '../../../src/framework/contracts.js';

function rgb(width: number, height: number, value: (x: number, y: number, c: number) => number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = value(x, y, c);
  return { data, width, height, channels: 3 };
}

describe('resizeArea', () => {
  it('averages each output pixel over the source area it covers (2:1, and 3:2 with shared pixels)', () => {
    const image = rgb(4, 4, (x, y, c) => 10 * x + 50 * y + c);
    const half = resizeArea(image, { left: 0, top: 0, width: 4, height: 4 }, 2);
    // Output (0, 0) = mean of source (0..1, 0..1): x mean 0.5, y mean 0.5.
    expect(Array.from(half.data.subarray(0, 3))).toEqual([30, 31, 32]);
    // Output (1, 1) = mean of source (2..3, 2..3): 10·2.5 + 50·2.5 = 150.
    expect(Array.from(half.data.subarray(9, 12))).toEqual([150, 151, 152]);
    // 3 → 2 along x: output 0 covers source 0 and half of 1 → (0·1 + 10·0.5) / 1.5 = 3.33 → 3.
    const row = rgb(3, 2, (x) => 10 * x);
    const two = resizeArea(row, { left: 0, top: 0, width: 3, height: 2 }, 2);
    expect([two.data[0], two.data[3]]).toEqual([3, 17]);
  });

  it('takes windows with fractional edges, keeps flat images flat, and only shrinks', () => {
    const flat = rgb(50, 40, (_x, _y, c) => 100 + c);
    const out = resizeArea(flat, { left: 3.25, top: 1.5, width: 33.5, height: 33.5 }, 16);
    expect(out.data.every((v, i) => v === 100 + (i % 3))).toBe(true);
    // A window starting at x = 1.5 of a ramp: the mean over [1.5, 3.5) is 2·10 = 20.
    const ramp = rgb(8, 2, (x) => 10 * x);
    expect(resizeArea(ramp, { left: 1.5, top: 0, width: 2, height: 2 }, 1).data[0]).toBe(20);
    // 1:1 at whole-pixel offsets is the window's pixels.
    const ramp2d = rgb(9, 7, (x, y, c) => 20 * x + y + c);
    const copy = resizeArea(ramp2d, { left: 2, top: 3, width: 4, height: 4 }, 4);
    expect(Array.from(copy.data.subarray(0, 3))).toEqual([43, 44, 45]);
    expect(Array.from(copy.data.subarray(-3))).toEqual([20 * 5 + 6, 20 * 5 + 7, 20 * 5 + 8]);
    expect(() => resizeArea(flat, { left: 0, top: 0, width: 10, height: 10 }, 20)).toThrow(/only shrinks/);
    expect(() => resizeArea(flat, { left: 30, top: 0, width: 30, height: 30 }, 10)).toThrow(/not inside/);
  });

  it('equals the exact area mean at every pixel, windows reaching the image edges included', () => {
    // Pseudo-random pixels: any misplaced tap or weight shows up as a difference above rounding.
    const noise = rgb(41, 37, (x, y, c) => (x * 97 + y * 57 + c * 31 + ((x * y) % 7) * 19) % 256);
    const reference = (win: { left: number; top: number; width: number; height: number }, size: number, ox: number, oy: number, c: number) => {
      const sx = win.width / size;
      const sy = win.height / size;
      let sum = 0;
      for (let y = 0; y < noise.height; y++) {
        const hy = Math.min(y + 1, win.top + (oy + 1) * sy) - Math.max(y, win.top + oy * sy);
        if (hy <= 0) continue;
        for (let x = 0; x < noise.width; x++) {
          const hx = Math.min(x + 1, win.left + (ox + 1) * sx) - Math.max(x, win.left + ox * sx);
          if (hx > 0) sum += hx * hy * noise.data[(y * noise.width + x) * 3 + c];
        }
      }
      return sum / (sx * sy);
    };
    const windows = [
      { left: 0, top: 0, width: 41, height: 37 }, // whole image, 41 → 29 and 37 → 29: up to 3 sources per output
      { left: 2.5, top: 1.25, width: 38.5, height: 35.75 }, // fractional, ending at the right and bottom edges
      { left: 0, top: 0, width: 41, height: 37, size: 9 }, // more than 4 sources per output
    ];
    for (const { size = 29, ...win } of windows) {
      const out = resizeArea(noise, win, size);
      let worst = 0;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(out.data[(y * size + x) * 3 + c] - reference(win, size, x, y, c)));
        }
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-6);
    }
  });
});
