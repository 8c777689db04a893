// Data source: a folder in the Kaggle Galaxy Zoo layout (the real challenge data, or the synthetic twin).
import path from 'node:path';
import type { DataSource } from '../../framework/contracts.js';
import { definePlugin, type OptionsOf, type PluginContext } from '../../framework/plugin.js';
import { layoutProblems, readKaggleLayout, type KaggleLayoutOptions } from '../../galaxy/kaggle-layout.js';

/** Share held out at random when neither `valid` nor `valid_fraction` is given. */
export const DEFAULT_VALID_FRACTION = 0.2;
/**
 * Seed of the random hold-out when `split_seed` is not given: fixed, so runs with other experiment
 * seeds validate on the same galaxies (their RMSEs compare, and an ensemble of them does not leak).
 */
export const DEFAULT_SPLIT_SEED = 0;

/** Options shared with the synthetic source, which reads its folder with the same loader. */
export const SPLIT_OPTION_SCHEMAS = {
  valid: {
    type: ['string', 'null'],
    minLength: 1,
    default: null,
    description:
      'A fixed validation set, its galaxies taken out of training: a folder in the Kaggle layout (csv + images inside it), ' +
      'a solutions CSV whose images are in the images folder, or a list of GalaxyIDs of the CSV (.txt one per line, .yaml list); ' +
      "relative to the config file's folder. null = hold out valid_fraction at random.",
  },
  valid_fraction: {
    type: ['number', 'null'],
    minimum: 0,
    exclusiveMaximum: 1,
    default: null,
    description: `Share of galaxies held out at random for validation; 0 = no validation set; null = ${DEFAULT_VALID_FRACTION} (none when valid is set).`,
  },
  split_seed: {
    type: ['integer', 'null'],
    minimum: 0,
    default: DEFAULT_SPLIT_SEED,
    description: 'Seed of the random hold-out, independent of the experiment seed; null = the experiment seed.',
  },
  limit: {
    type: 'integer',
    minimum: 0,
    default: 0,
    description: 'Use only the first N rows of the CSV (before the random split; with valid, N training rows); 0 = all.',
  },
  on_bad_image: {
    enum: ['skip', 'fail'],
    default: 'skip',
    description: 'A JPEG that fails to decode: skip and count it, or stop the run.',
  },
} as const;

/** Object-level rule beside SPLIT_OPTION_SCHEMAS: a named validation set and a random share exclude each other. */
export const SPLIT_OPTION_RULES = {
  if: { properties: { valid: { type: 'string' } }, required: ['valid'] },
  then: {
    properties: {
      valid_fraction: {
        not: { type: 'number' },
        description: 'no valid_fraction when valid names a validation set (that set replaces the random hold-out); remove one of the two',
      },
    },
  },
} as const;

/** The loader's options from plugin options (paths resolved against the config folder, defaults filled). */
export function layoutOptions(
  dir: string,
  o: Partial<Omit<KaggleGalaxyZooOptions, 'dir' | 'crop'>>,
  ctx: Pick<PluginContext, 'seed' | 'configDir'>,
  crop: number | null,
): KaggleLayoutOptions {
  return {
    dir,
    csv: o.csv ?? 'training_solutions_rev1.csv',
    images: o.images ?? 'images_training_rev1',
    crop: crop && crop > 0 ? crop : null,
    valid: o.valid ? path.resolve(ctx.configDir, o.valid) : null,
    validFraction: o.valid_fraction ?? DEFAULT_VALID_FRACTION,
    splitSeed: o.split_seed === undefined ? DEFAULT_SPLIT_SEED : (o.split_seed ?? ctx.seed),
    limit: o.limit ?? 0,
    onBadImage: o.on_bad_image ?? 'skip',
  };
}

export function describeLayout(name: string, o: KaggleLayoutOptions): string {
  const crop = o.crop ? `centre crop ${o.crop}px` : 'no crop';
  const limit = o.limit > 0 ? `, first ${o.limit} ${o.valid ? 'training ' : ''}rows` : '';
  const split = o.valid
    ? `validation set ${o.valid}`
    : o.validFraction > 0
      ? `${Math.round(o.validFraction * 100)}% valid, split seed ${o.splitSeed}`
      : 'valid_fraction 0';
  return `${name}: ${o.dir} (${o.csv}, ${o.images}/; ${crop}; ${split}${limit})`;
}

function kaggleLayout(options: KaggleGalaxyZooOptions, ctx: Pick<PluginContext, 'seed' | 'configDir'>): KaggleLayoutOptions {
  return layoutOptions(path.resolve(ctx.configDir, options.dir), options, ctx, options.crop === undefined ? 224 : options.crop);
}

const kaggleGalaxyZooSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dir'],
  properties: {
    dir: { type: 'string', minLength: 1, description: "Dataset folder; a relative path resolves against the config file's folder." },
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
  ...SPLIT_OPTION_RULES,
} as const;

export type KaggleGalaxyZooOptions = OptionsOf<typeof kaggleGalaxyZooSchema>;

export const kaggleGalaxyZooData = definePlugin({
  name: 'kaggle-galaxy-zoo',
  kind: 'data',
  description: 'Galaxy Zoo images and labels in the Kaggle layout (training_solutions_rev1.csv + images_training_rev1/).',
  optionsSchema: kaggleGalaxyZooSchema,
  check: (options, ctx) => layoutProblems(kaggleLayout(options, ctx)),
  create(options, ctx): DataSource {
    const layout = kaggleLayout(options, ctx);
    return {
      prepare: () => readKaggleLayout(layout),
      describe: () => describeLayout('kaggle-galaxy-zoo', layout),
    };
  },
});
