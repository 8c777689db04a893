import path from 'node:path';

/** The real Galaxy Zoo sample JPEGs: `shared/` sits beside the checkout (as in CI); GZX_SAMPLE_DIR overrides. */
export const SAMPLE_DIR =
  process.env.GZX_SAMPLE_DIR ?? path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'galaxy-zoo', 'sample');
