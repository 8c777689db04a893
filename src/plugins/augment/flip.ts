// Random mirror images: a galaxy seen in a mirror is the same kind of galaxy.
import type { Augmentation, RawImage } from '../../core/contracts.js';
import { definePlugin } from '../../core/plugin.js';

export interface FlipOptions {
  /** Probability of a left–right mirror. */
  horizontal: number;
  /** Probability of a top–bottom mirror. */
  vertical: number;
}

/** Mirrors an image exactly (no resampling). */
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

export const flipAugment = definePlugin<FlipOptions, Augmentation>({
  name: 'flip',
  kind: 'augment',
  description: 'Mirror images left–right and/or top–bottom at random.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      horizontal: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'Probability of a left–right mirror.' },
      vertical: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'Probability of a top–bottom mirror.' },
    },
  },
  create(options) {
    return {
      apply(image, rng) {
        // Always draw both numbers so later augmentations see the same stream whatever happens here.
        const horizontal = rng.next() < options.horizontal;
        const vertical = rng.next() < options.vertical;
        return horizontal || vertical ? mirror(image, horizontal, vertical) : image;
      },
    };
  },
});
