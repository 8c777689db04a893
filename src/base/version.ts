import { createRequire } from 'node:module';

// package.json sits two levels above both src/base and dist/base.
export const GZX_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
