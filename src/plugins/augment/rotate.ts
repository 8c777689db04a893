// Random rotation by any angle: galaxies have no preferred orientation on the sky.
import type { AffineDraw, RawImage, Rng } from '../../framework/contracts.js';
import { UserError } from '../../base/errors.js';
import { definePlugin, type PluginProblem } from '../../framework/plugin.js';
import { affineAugmentation, applyAffineDraw, type Padding } from '../../vision/pipeline/warp.js';

/** Rotation options, shared with the composed `affine` augmentation. */
export const ROTATION_OPTIONS = {
  min_degrees: { type: 'number', default: 0, description: 'Smallest angle drawn (degrees).' },
  max_degrees: { type: 'number', default: 360, description: 'Largest angle drawn (degrees).' },
  padding: {
    type: 'string',
    enum: ['reflection', 'zeros'],
    default: 'reflection',
    description: 'reflection mirrors the image into the corners; zeros leaves them black.',
  },
} as const;

/** min_degrees <= max_degrees, for rotate and affine (their `check`, and `create` for library callers). */
export function degreeRangeProblems(o: { min_degrees: number; max_degrees: number }): PluginProblem[] {
  return o.min_degrees > o.max_degrees
    ? [
        {
          key: 'min_degrees',
          message: `${o.min_degrees} is larger than max_degrees (${o.max_degrees}). Swap them so that min_degrees <= max_degrees.`,
        },
      ]
    : [];
}

/** A plugin created without `check` (from code, not a config) still refuses what `check` would. */
export function throwProblems(what: string, problems: PluginProblem[]): void {
  if (problems.length > 0) throw new UserError(problems.map((p) => `${what}: ${p.key}: ${p.message}`).join('\n'));
}

/** A turn about the image centre; positive angles turn the picture clockwise on screen. */
export function rotation(degrees: number, padding: Padding): AffineDraw {
  const rad = ((((degrees % 360) + 360) % 360) * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  return { matrix: [cos, sin, -sin, cos], padding };
}

/** Rotates about the image centre; positive angles turn the picture clockwise on screen. */
export function rotateImage(image: RawImage, degrees: number, padding: Padding): RawImage {
  return applyAffineDraw(image, rotation(degrees, padding));
}

export const rotateAugment = definePlugin({
  name: 'rotate',
  kind: 'augment',
  description: 'Rotate images by a random angle, filling corners by reflection (or zeros).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...ROTATION_OPTIONS,
    },
  },
  check: (options) => degreeRangeProblems(options),
  create(options) {
    throwProblems('augment rotate', degreeRangeProblems(options));
    const affine = (rng: Rng) => rotation(options.min_degrees + (options.max_degrees - options.min_degrees) * rng.next(), options.padding);
    return affineAugmentation(affine);
  },
});
