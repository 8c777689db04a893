// fastai's way with flips, rotation and zoom: compose them into one affine matrix and resample
// once (one pass and one interpolation). flip → rotate → zoom in a row come to the same, since the
// pipeline composes consecutive affine plugins; this is the recipe's one-plugin spelling.
import type { AffineDraw, Rng } from '../../framework/contracts.js';
import { definePlugin } from '../../framework/plugin.js';
import { affineAugmentation, multiply } from '../../vision/pipeline/warp.js';
import { ROTATION_OPTIONS, degreeRangeProblems, throwProblems } from './rotate.js';

type Matrix = AffineDraw['matrix'];

export const affineAugment = definePlugin({
  name: 'affine',
  kind: 'augment',
  // Every image is rotated (by U(min_degrees, max_degrees)); fastai's aug_transforms rotates with
  // probability p_affine = 0.75, so a quarter of its images keep their orientation. For galaxies, whose
  // orientation carries no label, gzx's recipes rotate all (bench/parity/RECIPE.md, finding 4).
  description:
    "Flip, rotate and zoom composed into one resampling (fastai-style), with fastai's option names. Rotates every image (fastai's aug_transforms: probability 0.75).",
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      flip_horizontal: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'Probability of a left–right mirror.' },
      flip_vertical: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Probability of a top–bottom mirror.' },
      ...ROTATION_OPTIONS,
      max_zoom: { type: 'number', minimum: 1, default: 1.05, description: 'Largest zoom factor.' },
      p_zoom: { type: 'number', minimum: 0, maximum: 1, default: 0.75, description: 'Probability of zooming an image.' },
    },
  },
  check: (o) => degreeRangeProblems(o),
  create(o) {
    throwProblems('augment affine', degreeRangeProblems(o));
    const affine = (rng: Rng): AffineDraw => {
      const flipH = rng.next() < o.flip_horizontal;
      const flipV = rng.next() < o.flip_vertical;
      const rad = ((o.min_degrees + (o.max_degrees - o.min_degrees) * rng.next()) * Math.PI) / 180;
      const zoomed = rng.next() < o.p_zoom;
      const scale = zoomed ? 1 + (o.max_zoom - 1) * rng.next() : 1;
      // Output offset → source offset: flip ∘ rotate ∘ zoom, as the three plugins in that order.
      const flip: Matrix = [flipH ? -1 : 1, 0, 0, flipV ? -1 : 1];
      const rotate: Matrix = [Math.cos(rad), Math.sin(rad), -Math.sin(rad), Math.cos(rad)];
      const zoom: Matrix = [1 / scale, 0, 0, 1 / scale];
      return { matrix: multiply(multiply(flip, rotate), zoom), padding: o.padding };
    };
    return affineAugmentation(affine);
  },
});
