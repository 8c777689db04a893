// schemas/experiment.schema.json is generated from src/framework/config/experiment-schema.ts.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { experimentSchemaJson } from '../../../../src/framework/config/experiment-schema.js';
import { REPO } from '../../../helpers/paths.js';

describe('schemas/experiment.schema.json', () => {
  it('is up to date with src/framework/config/experiment-schema.ts (else: npm run schema)', () => {
    const file = path.join(REPO, 'schemas/experiment.schema.json');
    expect(fs.readFileSync(file, 'utf8'), 'stale: run `npm run schema`').toBe(experimentSchemaJson());
  });
});
