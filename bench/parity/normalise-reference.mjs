#!/usr/bin/env node
// Prints gzx's normaliseAnswers (dist/galaxy/tree.js: build first) on fixed random rows as JSON,
// for galaxy_torch.check_normalisation. `node bench/parity/normalise-reference.mjs [rows] [seed]`.
// Inputs are uniform in [-0.5, 1.5) (so some clip at 0), plus a row of zeros and one all negative.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const treeJs = path.join(repo, 'dist', 'galaxy', 'tree.js');
if (!existsSync(treeJs)) {
  process.stderr.write(`normalise-reference: ${treeJs} is missing; build first (npx tsc -p tsconfig.json)\n`);
  process.exit(1);
}
const { COLUMNS, normaliseAnswers } = await import(pathToFileURL(treeJs).href);
const rows = Number(process.argv[2] ?? 64);
let state = Number(process.argv[3] ?? 0) >>> 0 || 1;
// xorshift32: a fixed stream independent of Node's Math.random.
const next = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 2 ** 32;
};
const inputs = Array.from({ length: rows }, () => COLUMNS.map(() => next() * 2 - 0.5));
inputs.push(
  COLUMNS.map(() => 0),
  COLUMNS.map(() => -1),
);
process.stdout.write(JSON.stringify({ columns: COLUMNS, inputs, outputs: normaliseAnswers(inputs) }));
