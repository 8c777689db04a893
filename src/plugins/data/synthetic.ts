// Data source: the synthetic galaxy twin, generated on first use (or reused) and read with the
// same Kaggle-layout loader as the real data.
import path from 'node:path';
import type { DataSource } from '../../framework/contracts.js';
import { definePlugin } from '../../framework/plugin.js';
import { readKaggleLayout } from '../../galaxy/kaggle-layout.js';
import { writeSyntheticDataset } from '../../galaxy/synth/dataset.js';
import { SPLIT_OPTION_RULES, SPLIT_OPTION_SCHEMAS, describeLayout, layoutOptions } from './kaggle-galaxy-zoo.js';

/** The real data's 224-of-424 centre crop, scaled to the generated size. */
export function autoCrop(size: number): number {
  return Math.round((size * 224) / 424);
}

export const syntheticData = definePlugin({
  name: 'synthetic',
  kind: 'data',
  description: 'Procedural galaxy images whose look follows their Galaxy Zoo labels; generated once, then reused.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      dir: {
        type: ['string', 'null'],
        minLength: 1,
        default: null,
        description:
          "Dataset folder (a relative path resolves against the config file's folder); null = data/synthetic-<seed>-<count>-<size> under the current folder.",
      },
      count: { type: 'integer', minimum: 1, maximum: 900000, default: 2000, description: 'Number of labelled images.' },
      size: {
        type: 'integer',
        minimum: 32,
        maximum: 1024,
        default: 424,
        description: 'Side of the generated images in pixels (the real ones are 424).',
      },
      seed: { type: ['integer', 'null'], minimum: 0, default: null, description: 'Generator seed; null = the experiment seed.' },
      crop: {
        anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }, { const: 'auto' }],
        default: 'auto',
        description: 'Centre crop in source pixels; auto = round(size·224/424) like the real data; null or 0 = none.',
      },
      ...SPLIT_OPTION_SCHEMAS,
    },
    ...SPLIT_OPTION_RULES,
  },
  check(options) {
    // Generated later, so only the crop can be compared now: with the size the images will have.
    const size = options.size ?? 424;
    const crop = options.crop === undefined || options.crop === 'auto' ? autoCrop(size) : options.crop;
    return crop && crop > size
      ? [
          {
            key: 'crop',
            message: `${crop} px is larger than the ${size}-px images this source generates, so every image would be skipped. Set crop to at most ${size}, auto, or null for no crop.`,
          },
        ]
      : [];
  },
  create(options, ctx): DataSource {
    const count = options.count ?? 2000;
    const size = options.size ?? 424;
    const seed = options.seed ?? ctx.seed;
    const dir = options.dir ? path.resolve(ctx.configDir, options.dir) : path.resolve(process.cwd(), 'data', `synthetic-${seed}-${count}-${size}`);
    const crop = options.crop === undefined || options.crop === 'auto' ? autoCrop(size) : options.crop;
    const layout = layoutOptions(dir, options, ctx, crop);
    return {
      async prepare() {
        let lastLog = 0;
        const result = await writeSyntheticDataset(
          { dir, count, size, seed },
          (p) => {
            if (p.elapsedSec - lastLog < 5) return;
            lastLog = p.elapsedSec;
            const rate = p.done / Math.max(p.elapsedSec, 1e-9);
            const eta = Math.round((p.total - p.done) / Math.max(rate, 1e-9));
            ctx.log(`synthetic data: ${p.done}/${p.total} images (${rate.toFixed(0)}/s, ${eta}s left)`);
          },
          (pid) => ctx.log(`synthetic data: process ${pid} is generating ${dir}; waiting for it`),
        );
        ctx.log(
          result.reused
            ? `synthetic data: reusing ${dir} (seed ${seed}, ${count} images of ${size}px)`
            : `synthetic data: wrote ${count} images of ${size}px to ${dir} in ${result.elapsedSec.toFixed(1)}s (${result.imagesPerSec.toFixed(0)}/s)`,
        );
        return readKaggleLayout(layout);
      },
      describe: () => `${describeLayout('synthetic', layout)}; generator seed ${seed}, ${count} images of ${size}px`,
    };
  },
});
