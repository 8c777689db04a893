// Where tests find the repository and their fixtures, wherever under test/ they live.
import path from 'node:path';

/** The repository's root folder. */
export const REPO = path.resolve(import.meta.dirname, '..', '..');
/** test/fixtures */
export const FIXTURES = path.join(REPO, 'test', 'fixtures');
/** The CLI as users run it (needs `npm run build` first; `npm test` builds). */
export const BIN = path.join(REPO, 'bin', 'run.js');
