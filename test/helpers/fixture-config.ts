// Configs that name the fixture plugins for every kind (test/fixtures/config/fixture-plugins.js).
import fs from 'node:fs';
import path from 'node:path';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/config');
export const FIXTURE_PLUGINS = path.join(FIXTURES, 'fixture-plugins.js');

/** Writes `dir/name` with valid lines 1–6 naming a fixture plugin of every kind; `body` starts at line 7. */
export function writeFixtureConfig(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `plugins: [${JSON.stringify(FIXTURE_PLUGINS)}]\n` +
      'data: {use: fixture-data, with: {root: ./images}}\n' +
      'backbone: {use: fixture-backbone}\n' +
      'head: {use: fixture-head}\n' +
      'schedule: {use: fixture-flat}\n' +
      'logger: []\n' +
      body,
  );
  return file;
}
