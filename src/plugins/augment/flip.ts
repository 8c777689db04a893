// Random mirror images: a galaxy seen in a mirror is the same kind of galaxy.
import type { AffineDraw, Rng } from '../../framework/contracts.js';
import { definePlugin } from '../../framework/plugin.js';
import { affineAugmentation, mirror } from '../../vision/pipeline/warp.js';

// The mirror itself lives with the pipeline's resampling, which also uses it for composed flips.
export { mirror };

export const flipAugment = definePlugin({
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
    const affine = (rng: Rng): AffineDraw => {
      // Always draw both numbers so later augmentations see the same stream whatever happens here.
      const horizontal = rng.next() < options.horizontal;
      const vertical = rng.next() < options.vertical;
      return { matrix: [horizontal ? -1 : 1, 0, 0, vertical ? -1 : 1], padding: null };
    };
    return affineAugmentation(affine);
  },
});
