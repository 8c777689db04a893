// Random zoom-in about the centre (fastai's zoom with max_zoom): scale up, crop back to size.
import type { AffineDraw, RawImage, Rng } from '../../framework/contracts.js';
import { definePlugin } from '../../framework/plugin.js';
import { affineAugmentation, applyAffineDraw } from '../../vision/pipeline/warp.js';

/** Enlarges by `scale` about the centre and keeps the central width × height. */
export function zoomImage(image: RawImage, scale: number): RawImage {
  return applyAffineDraw(image, zoom(scale));
}

/** Zooming in (scale ≥ 1) only reads inside the source, so it needs no padding. */
function zoom(scale: number): AffineDraw {
  return { matrix: [1 / scale, 0, 0, 1 / scale], padding: null };
}

export const zoomAugment = definePlugin({
  name: 'zoom',
  kind: 'augment',
  description: 'Zoom in about the centre by a random factor in [1, max] and crop back to size.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      max: { type: 'number', minimum: 1, default: 1.05, description: 'Largest zoom factor.' },
      p: { type: 'number', minimum: 0, maximum: 1, default: 0.75, description: 'Probability of zooming an image.' },
    },
  },
  create(options) {
    const affine = (rng: Rng) => {
      const zoomed = rng.next() < options.p;
      const scale = 1 + (options.max - 1) * rng.next();
      return zoom(zoomed ? scale : 1);
    };
    return affineAugmentation(affine);
  },
});
