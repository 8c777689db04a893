import path from 'node:path';

/**
 * Real Galaxy Zoo JPEGs (24, 424×424) kept in the repository, so the tests run from a clone alone;
 * GZX_SAMPLE_DIR points the same tests at another folder (e.g. the full 64-image sample in ../shared).
 */
export const SAMPLE_DIR = process.env.GZX_SAMPLE_DIR ?? path.resolve(import.meta.dirname, '..', 'fixtures', 'images', 'sample');
