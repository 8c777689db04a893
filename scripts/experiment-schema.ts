// Writes schemas/experiment.schema.json from src/framework/config/experiment-schema.ts (`npm run schema`).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { experimentSchemaJson } from '../src/framework/config/experiment-schema.js';

const file = fileURLToPath(new URL('../schemas/experiment.schema.json', import.meta.url));
fs.writeFileSync(file, experimentSchemaJson());
process.stdout.write(`wrote ${file}\n`);
