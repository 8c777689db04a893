// Data source: a folder in the Kaggle Galaxy Zoo layout (the real challenge data, or the synthetic twin).
import path from 'node:path';
import type { DataSource } from '../../core/contracts.js';
import { definePlugin, type JsonSchema, type PluginContext } from '../../core/plugin.js';
import { readKaggleLayout, type KaggleLayoutOptions } from '../../galaxy/kaggle-layout.js';

export interface KaggleGalaxyZooOptions {
  dir: string;
  csv: string;
  images: string;
  crop: number | null;
  valid_fraction: number;
  split_seed: number | null;
  limit: number;
  on_bad_image: 'skip' | 'fail';
}

/** Options shared with the synthetic source, which reads its folder with the same loader. */
export const SPLIT_OPTION_SCHEMAS: Record<string, JsonSchema> = {
  valid_fraction: {
    type: 'number',
    minimum: 0,
    exclusiveMaximum: 1,
    default: 0.2,
    description: 'Share of galaxies held out for validation.',
  },
  split_seed: {
    type: ['integer', 'null'],
    minimum: 0,
    default: null,
    description: 'Seed of the train/valid split; null = the experiment seed.',
  },
  limit: {
    type: 'integer',
    minimum: 0,
    default: 0,
    description: 'Use only the first N rows of the CSV (before the split); 0 = all.',
  },
  on_bad_image: {
    enum: ['skip', 'fail'],
    default: 'skip',
    description: 'A JPEG that fails to decode: skip and count it, or stop the run.',
  },
};

/** The loader's options from plugin options (paths resolved, defaults filled). */
export function layoutOptions(
  dir: string,
  o: Partial<Omit<KaggleGalaxyZooOptions, 'dir' | 'crop'>>,
  ctx: Pick<PluginContext, 'seed'>,
  crop: number | null,
): KaggleLayoutOptions {
  return {
    dir,
    csv: o.csv ?? 'training_solutions_rev1.csv',
    images: o.images ?? 'images_training_rev1',
    crop: crop && crop > 0 ? crop : null,
    validFraction: o.valid_fraction ?? 0.2,
    splitSeed: o.split_seed ?? ctx.seed,
    limit: o.limit ?? 0,
    onBadImage: o.on_bad_image ?? 'skip',
  };
}

export function describeLayout(name: string, o: KaggleLayoutOptions): string {
  const crop = o.crop ? `centre crop ${o.crop}px` : 'no crop';
  const limit = o.limit > 0 ? `, first ${o.limit} rows` : '';
  return `${name}: ${o.dir} (${o.csv}, ${o.images}/; ${crop}; ${Math.round(o.validFraction * 100)}% valid, split seed ${o.splitSeed}${limit})`;
}

export const kaggleGalaxyZooData = definePlugin<KaggleGalaxyZooOptions, DataSource>({
  name: 'kaggle-galaxy-zoo',
  kind: 'data',
  description: 'Galaxy Zoo images and labels in the Kaggle layout (training_solutions_rev1.csv + images_training_rev1/).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['dir'],
    properties: {
      dir: { type: 'string', minLength: 1, description: 'Dataset folder; a relative path resolves against the config file\'s folder.' },
      csv: { type: 'string', minLength: 1, default: 'training_solutions_rev1.csv', description: 'Solutions CSV, relative to dir.' },
      images: { type: 'string', minLength: 1, default: 'images_training_rev1', description: 'Folder of <GalaxyID>.jpg, relative to dir.' },
      crop: {
        type: ['integer', 'null'],
        minimum: 0,
        default: 224,
        description: 'Centre crop in source pixels before resizing; null or 0 = none.',
      },
      ...SPLIT_OPTION_SCHEMAS,
    },
  },
  create(options, ctx) {
    const layout = layoutOptions(path.resolve(ctx.configDir, options.dir), options, ctx, options.crop === undefined ? 224 : options.crop);
    return {
      prepare: () => readKaggleLayout(layout),
      describe: () => describeLayout('kaggle-galaxy-zoo', layout),
    };
  },
});
