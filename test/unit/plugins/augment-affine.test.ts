// `affine` composes flip, rotation and zoom into one resampling; it must agree with the separate plugins,
// which the pipeline composes the same way when they follow each other.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Augmentation, RawImage, Rng } from '../../../src/framework/contracts.js';
import { decodeImage } from '../../../src/vision/pipeline/decode.js';
import { applyAugmentations } from '../../../src/vision/pipeline/augmentations.js';
import { affineAugment } from '../../../src/plugins/augment/affine.js';
import { flipAugment, mirror } from '../../../src/plugins/augment/flip.js';
import { lightingAugment } from '../../../src/plugins/augment/lighting.js';
import { rotateAugment, rotateImage } from '../../../src/plugins/augment/rotate.js';
import { zoomAugment, zoomImage } from '../../../src/plugins/augment/zoom.js';
import { SAMPLE_DIR } from '../../helpers/samples.js';

let galaxy: RawImage;
beforeAll(async () => {
  galaxy = await decodeImage(`${SAMPLE_DIR}/101654.jpg`, { crop: 256, size: 112 });
});

const defaults = { flip_horizontal: 0, flip_vertical: 0, min_degrees: 0, max_degrees: 0, max_zoom: 1, p_zoom: 0, padding: 'reflection' as const };
const make = (o: Partial<typeof defaults>) => affineAugment.create({ ...defaults, ...o }, {} as never) as Augmentation;
/** An rng returning fixed draws in order: flipH, flipV, angle, zoomed?, scale. */
const draws = (...values: number[]): Rng => ({ next: () => values.shift() ?? 0 });
const meanAbsDiff = (a: RawImage, b: RawImage) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0) / a.data.length;

describe('affine', () => {
  it('a flip alone is the exact mirror; a 90° turn alone is the exact quarter turn; nothing drawn is the identity', async () => {
    expect(await make({ flip_horizontal: 1 }).apply(galaxy, draws(0, 1, 0, 1, 0))).toEqual(mirror(galaxy, true, false));
    const quarter = await make({ min_degrees: 90, max_degrees: 90 }).apply(galaxy, draws(1, 1, 0, 1, 0));
    expect(quarter).toEqual(rotateImage(galaxy, 90, 'reflection'));
    expect(await make({}).apply(galaxy, draws(1, 1, 0, 1, 0))).toBe(galaxy);
  });

  it('flip + rotate + zoom in one pass matches the three plugins in sequence (up to one interpolation)', async () => {
    const out = (await make({ flip_horizontal: 1, min_degrees: 37, max_degrees: 37, max_zoom: 1.2, p_zoom: 1 }).apply(
      galaxy,
      draws(0, 1, 0, 0, 1),
    )) as RawImage;
    const sequential = zoomImage(rotateImage(mirror(galaxy, true, false), 37, 'reflection'), 1.2);
    expect(out.width).toBe(galaxy.width);
    expect(meanAbsDiff(out, sequential)).toBeLessThan(1.5);
    expect(meanAbsDiff(out, galaxy)).toBeGreaterThan(3);
  });
});

describe('a chain of affine plugins', () => {
  const flip = flipAugment.create({ horizontal: 1, vertical: 0 }, {} as never) as Augmentation;
  const rotate = (padding: 'reflection' | 'zeros') =>
    rotateAugment.create({ min_degrees: 37, max_degrees: 37, padding }, {} as never) as Augmentation;
  const zoom = zoomAugment.create({ max: 1.2, p: 1 }, {} as never) as Augmentation;
  const lighting = lightingAugment.create({ max_brightness: 0.4, max_contrast: 0.4, p: 1 }, {} as never) as Augmentation;
  const run = (chain: Augmentation[], rng: Rng) =>
    applyAugmentations(
      chain,
      chain.map(() => ({ use: 'test', with: {} })),
      galaxy,
      rng,
    );

  it('flip → rotate → zoom is resampled once, exactly as `affine` with the same draws, and draws as many numbers', async () => {
    const rng = draws(0, 1, 0, 0, 1, 0.25);
    const chained = await run([flip, rotate('reflection'), zoom], rng);
    const composed = await make({ flip_horizontal: 1, min_degrees: 37, max_degrees: 37, max_zoom: 1.2, p_zoom: 1 }).apply(
      galaxy,
      draws(0, 1, 0, 0, 1),
    );
    expect(chained).toEqual(composed);
    expect(rng.next()).toBe(0.25); // the five draws of flip, rotate and zoom, in order, and no more
    // One interpolation instead of two: close to, but not the same as, the plugins applied one by one.
    const oneByOne = zoomImage(rotateImage(mirror(galaxy, true, false), 37, 'reflection'), 1.2);
    expect(meanAbsDiff(chained, oneByOne)).toBeGreaterThan(0);
    expect(meanAbsDiff(chained, oneByOne)).toBeLessThan(1.5);
  });

  it('a plugin without a matrix in between, or a different padding, splits the composition', async () => {
    const split = await run([flip, lighting, rotate('reflection')], draws(0, 1, 0, 0.9, 0, 0.5, 0));
    const lit = (await lighting.apply(mirror(galaxy, true, false), draws(0, 0.9, 0, 0.5))) as RawImage;
    expect(split).toEqual(rotateImage(lit, 37, 'reflection'));

    const paddings = await run([rotate('reflection'), rotate('zeros')], draws(0, 0));
    expect(paddings).toEqual(rotateImage(rotateImage(galaxy, 37, 'reflection'), 37, 'zeros'));
  });
});
