// The four built-in augmentations on real galaxy pixels and on constructed images.
import { describe, it, expect, beforeAll } from 'vitest';
import { newServiceContainer } from '../../../src/framework/services.js';
import type { Augmentation, RawImage } from '../../../src/framework/contracts.js';
import type { PluginContext, PluginDefinition } from '../../../src/framework/plugin.js';
import { PluginRegistry } from '../../../src/framework/registry.js';
import { SeededRng } from '../../../src/base/random.js';
import { decodeImage } from '../../../src/vision/pipeline/decode.js';
import { warpAffine } from '../../../src/vision/pipeline/warp.js';
import { resolveAugmentRefs } from '../../../src/vision/pipeline/augmentations.js';
import { builtinPlugins } from '../../../src/plugins/index.js';
import { flipAugment, mirror } from '../../../src/plugins/augment/flip.js';
import { rotateAugment, rotateImage } from '../../../src/plugins/augment/rotate.js';
import { zoomAugment, zoomImage } from '../../../src/plugins/augment/zoom.js';
import { lightingAugment, adjustLighting } from '../../../src/plugins/augment/lighting.js';

import { SAMPLE_DIR } from '../../helpers/samples.js';
const SAMPLE = `${SAMPLE_DIR}/101654.jpg`;
let galaxy: RawImage; // 64×64 RGB
let odd: RawImage; // 63×63 RGB

const ctx = {
  seed: 1,
  runDir: '.',
  configDir: '.',
  log: () => {},
  container: newServiceContainer(),
} as unknown as PluginContext;

const registry = new PluginRegistry();
registry.registerAll(builtinPlugins);

/** Creates a plugin with its schema defaults filled, as the pipeline does. */
async function make(def: PluginDefinition, options: Record<string, unknown> = {}): Promise<Augmentation> {
  const [ref] = resolveAugmentRefs(registry, [{ use: def.name, with: options }]);
  return (await def.create(ref.with, ctx)) as Augmentation;
}

const px = (im: RawImage, x: number, y: number) =>
  Array.from(im.data.subarray((y * im.width + x) * im.channels, (y * im.width + x + 1) * im.channels));
const filled = (w: number, h: number, value: (x: number, y: number, c: number) => number): RawImage => {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = value(x, y, c);
  return { data, width: w, height: h, channels: 3 };
};
const mean = (im: RawImage) => im.data.reduce((a, b) => a + b, 0) / im.data.length;
const std = (im: RawImage) => {
  const m = mean(im);
  return Math.sqrt(im.data.reduce((a, b) => a + (b - m) ** 2, 0) / im.data.length);
};

beforeAll(async () => {
  galaxy = await decodeImage(SAMPLE, { crop: 256, size: 64 });
  odd = await decodeImage(SAMPLE, { crop: 256, size: 63 });
});

describe('registration and options', () => {
  it('registers flip, rotate, zoom and lighting as augment plugins with their defaults', () => {
    expect(['flip', 'lighting', 'rotate', 'zoom'].every((n) => registry.has('augment', n))).toBe(true);
    const refs = resolveAugmentRefs(
      registry,
      ['flip', 'rotate', 'zoom', 'lighting'].map((use) => ({ use, with: {} })),
    );
    expect(refs.map((r) => r.with)).toEqual([
      { horizontal: 0.5, vertical: 0.5 },
      { min_degrees: 0, max_degrees: 360, padding: 'reflection' },
      { max: 1.05, p: 0.75 },
      { max_brightness: 0.2, max_contrast: 0.2, p: 0.75 },
    ]);
  });

  it('refuses impossible options', async () => {
    expect(() => resolveAugmentRefs(registry, [{ use: 'rotate', with: { padding: 'border' } }])).toThrow(
      /padding must be equal to one of the allowed values/,
    );
    expect(() => resolveAugmentRefs(registry, [{ use: 'zoom', with: { max: 0.9 } }])).toThrow(/\/max must be >= 1/);
    expect(() => resolveAugmentRefs(registry, [{ use: 'lighting', with: { max_contrast: 1 } }])).toThrow(/max_contrast must be < 1/);
    await expect(make(rotateAugment, { min_degrees: 90, max_degrees: 10 })).rejects.toThrow(
      /augment rotate: min_degrees: 90 is larger than max_degrees \(10\)/,
    );
  });
});

describe('flip', () => {
  it('is an exact left–right or top–bottom mirror', () => {
    const h = mirror(galaxy, true, false);
    const v = mirror(galaxy, false, true);
    for (const [x, y] of [
      [0, 0],
      [5, 17],
      [63, 40],
    ]) {
      expect(px(h, x, y)).toEqual(px(galaxy, 63 - x, y));
      expect(px(v, x, y)).toEqual(px(galaxy, x, 63 - y));
    }
    expect(Buffer.from(mirror(h, true, false).data).equals(Buffer.from(galaxy.data))).toBe(true);
  });

  it('follows its probabilities and is reproducible from the rng', async () => {
    const always = await make(flipAugment, { horizontal: 1, vertical: 0 });
    const out = await always.apply(galaxy, new SeededRng(1));
    expect(Buffer.from(out.data).equals(Buffer.from(mirror(galaxy, true, false).data))).toBe(true);
    const never = await make(flipAugment, { horizontal: 0, vertical: 0 });
    expect((await never.apply(galaxy, new SeededRng(1))).data).toEqual(galaxy.data);

    const half = await make(flipAugment);
    const tiny = filled(2, 1, (x) => x * 200); // [0, 200] → mirrored [200, 0]
    const rng = new SeededRng(42);
    let mirrored = 0;
    for (let i = 0; i < 4000; i++) if ((await half.apply(tiny, rng)).data[0] === 200) mirrored++;
    expect(mirrored / 4000).toBeGreaterThan(0.46);
    expect(mirrored / 4000).toBeLessThan(0.54);
    const a = await half.apply(galaxy, new SeededRng(9));
    const b = await half.apply(galaxy, new SeededRng(9));
    expect(a.data).toEqual(b.data);
  });
});

describe('rotate', () => {
  it('0° and 360° are the identity', async () => {
    for (const deg of [0, 360]) {
      const aug = await make(rotateAugment, { min_degrees: deg, max_degrees: deg });
      expect(Buffer.from((await aug.apply(galaxy, new SeededRng(3))).data).equals(Buffer.from(galaxy.data))).toBe(true);
    }
  });

  it('90° is an exact quarter turn clockwise (even and odd sizes); 180° is both mirrors', async () => {
    const aug = await make(rotateAugment, { min_degrees: 90, max_degrees: 90 });
    for (const im of [galaxy, odd]) {
      const out = await aug.apply(im, new SeededRng(5));
      const n = im.width;
      let mismatches = 0;
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (px(out, x, y).join() !== px(im, y, n - 1 - x).join()) mismatches++;
      expect(mismatches).toBe(0);
    }
    const half = rotateImage(galaxy, 180, 'reflection');
    expect(Buffer.from(half.data).equals(Buffer.from(mirror(galaxy, true, true).data))).toBe(true);
  });

  it('reflection padding leaves no black corners; zeros padding does', () => {
    const bright = filled(48, 48, (x, y, c) => 120 + ((x * 7 + y * 3 + c * 11) % 100));
    const reflected = rotateImage(bright, 45, 'reflection');
    expect(Math.min(...reflected.data)).toBeGreaterThanOrEqual(120);
    expect(px(reflected, 0, 0).every((v) => v >= 120)).toBe(true);
    const zeros = rotateImage(bright, 45, 'zeros');
    expect(px(zeros, 0, 0)).toEqual([0, 0, 0]);
    expect(px(zeros, 47, 47)).toEqual([0, 0, 0]);
    // The centre does not depend on the padding.
    expect(px(zeros, 24, 24)).toEqual(px(reflected, 24, 24));
  });

  it('reflection mirrors about the edge pixels (symmetric padding)', () => {
    // Shrinking 2× about the centre reads outside the image: column x samples 4 + 2(x − 4).
    const ramp = filled(9, 1, (x) => 10 + x * 20);
    const out = warpAffine(ramp, [2, 0, 0, 2], 'reflection');
    // −4 → 3, −2 → 1, 0, 2, 4, 6, 8, 10 → 7, 12 → 5
    expect(Array.from({ length: 9 }, (_, x) => px(out, x, 0)[0])).toEqual([3, 1, 0, 2, 4, 6, 8, 7, 5].map((i) => 10 + i * 20));
    const zeros = warpAffine(ramp, [2, 0, 0, 2], 'zeros');
    expect(Array.from({ length: 9 }, (_, x) => px(zeros, x, 0)[0])).toEqual([0, 0, 10, 50, 90, 130, 170, 0, 0]);
  });

  it('draws angles across the range, reproducibly', async () => {
    const aug = await make(rotateAugment);
    const a = await aug.apply(galaxy, new SeededRng(11));
    const b = await aug.apply(galaxy, new SeededRng(11));
    const c = await aug.apply(galaxy, new SeededRng(12));
    expect(a.data).toEqual(b.data);
    expect(Buffer.from(a.data).equals(Buffer.from(c.data))).toBe(false);
    expect([a.width, a.height, a.channels]).toEqual([64, 64, 3]);
    // Rotation about the centre keeps a centred galaxy's total light nearly unchanged.
    expect(Math.abs(mean(a) - mean(galaxy))).toBeLessThan(3);
  });
});

describe('zoom', () => {
  it('scales up about the centre: a horizontal ramp keeps its middle and halves its slope at 2×', () => {
    const ramp = filled(65, 9, (x) => x * 3); // centre column 32 has value 96
    const out = zoomImage(ramp, 2);
    for (const x of [0, 16, 32, 48, 64]) expect(px(out, x, 4)[0]).toBe(Math.round(96 + (x - 32) * 1.5));
  });

  it('max 1 or p 0 leave the image untouched; otherwise the view is enlarged', async () => {
    for (const opts of [
      { max: 1, p: 1 },
      { max: 1.5, p: 0 },
    ]) {
      const aug = await make(zoomAugment, opts);
      expect((await aug.apply(galaxy, new SeededRng(2))).data).toEqual(galaxy.data);
    }
    const aug = await make(zoomAugment, { max: 1.5, p: 1 });
    const out = await aug.apply(galaxy, new SeededRng(2));
    expect([out.width, out.height]).toEqual([64, 64]);
    // Zooming in on a galaxy centred on dark sky brightens the frame on average.
    expect(mean(out)).toBeGreaterThan(mean(galaxy));
  });
});

describe('lighting', () => {
  it('neutral settings are the identity; black and white stay put', () => {
    expect(Buffer.from(adjustLighting(galaxy, 0.5, 1).data).equals(Buffer.from(galaxy.data))).toBe(true);
    const ends = filled(2, 1, (x) => x * 255);
    expect(Array.from(adjustLighting(ends, 0.7, 1.4).data)).toEqual([0, 0, 0, 255, 255, 255]);
  });

  it('brightness > 0.5 brightens, contrast > 1 spreads values', () => {
    expect(mean(adjustLighting(galaxy, 0.6, 1))).toBeGreaterThan(mean(galaxy) + 1);
    expect(mean(adjustLighting(galaxy, 0.4, 1))).toBeLessThan(mean(galaxy) - 1);
    const mid = filled(16, 16, (x, y) => 64 + 8 * ((x + y) % 16));
    expect(std(adjustLighting(mid, 0.5, 1.25))).toBeGreaterThan(std(mid) * 1.1);
  });

  it('changes about p of the images and is reproducible', async () => {
    const never = await make(lightingAugment, { p: 0 });
    expect((await never.apply(galaxy, new SeededRng(4))).data).toEqual(galaxy.data);
    const aug = await make(lightingAugment);
    let changed = 0;
    for (let i = 0; i < 400; i++) if ((await aug.apply(galaxy, new SeededRng(i))) !== galaxy) changed++;
    // Each of the two changes fires with p = 0.75, so 1 − 0.25² ≈ 94% of images change.
    expect(changed / 400).toBeGreaterThan(0.88);
    expect(changed / 400).toBeLessThan(0.99);
    expect((await aug.apply(galaxy, new SeededRng(77))).data).toEqual((await aug.apply(galaxy, new SeededRng(77))).data);
  });
});
