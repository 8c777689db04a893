// Random brightness and contrast, as fastai's lighting transforms: both act on logit(pixel), so
// bright and dark ends saturate smoothly instead of clipping.
import type { Augmentation, RawImage } from '../../framework/contracts.js';
import { definePlugin } from '../../framework/plugin.js';

const logit = (x: number) => Math.log(x / (1 - x));

/**
 * Brightness `change` in (0, 1) (0.5 = none) and contrast `scale` > 0 (1 = none), applied through
 * a 256-entry table: logit(v) + logit(change), then × scale, back through the sigmoid.
 */
export function adjustLighting(image: RawImage, change: number, scale: number): RawImage {
  const shift = logit(change);
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    const l = (logit(v / 255) + shift) * scale; // ±Infinity at 0 and 255 stays there
    table[v] = Math.round(255 / (1 + Math.exp(-l)));
  }
  const src = image.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < out.length; i++) out[i] = table[src[i]];
  return { ...image, data: out };
}

export const lightingAugment = definePlugin({
  name: 'lighting',
  kind: 'augment',
  description: 'Change brightness and contrast at random (fastai-style, in logit space).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      max_brightness: {
        type: 'number',
        minimum: 0,
        exclusiveMaximum: 1,
        default: 0.2,
        description: 'Brightness change drawn from 0.5 ± max_brightness/2.',
      },
      max_contrast: {
        type: 'number',
        minimum: 0,
        exclusiveMaximum: 1,
        default: 0.2,
        description: 'Contrast scale drawn log-uniformly from [1 - max_contrast, 1/(1 - max_contrast)].',
      },
      p: { type: 'number', minimum: 0, maximum: 1, default: 0.75, description: 'Probability of each change.' },
    },
  },
  create(options): Augmentation {
    const logLow = Math.log(1 - options.max_contrast);
    return {
      apply(image, rng) {
        const brighten = rng.next() < options.p;
        const change = 0.5 + options.max_brightness * (rng.next() - 0.5);
        const contrast = rng.next() < options.p;
        const scale = Math.exp(logLow + -2 * logLow * rng.next());
        if (!brighten && !contrast) return image;
        return adjustLighting(image, brighten ? change : 0.5, contrast ? scale : 1);
      },
    };
  },
});
