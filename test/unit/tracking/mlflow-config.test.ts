// The mlflow logger as a user configures it: validated by the config loader like any plugin.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../../src/framework/config/load.js';
import { createRegistry } from '../../../src/cli/registry.js';
import { REPO } from '../../helpers/paths.js';

const QUICKSTART = path.join(REPO, 'configs/quickstart.yaml');
const dir = await mkdtemp(path.join(os.tmpdir(), 'gzx-mlflow-config-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function load(loggerYaml: string) {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, `extends: ${QUICKSTART}\nlogger:\n${loggerYaml}\n`);
  return loadExperiment(file, [], createRegistry());
}

describe('mlflow logger config', () => {
  it('fills the default experiment and keeps the tracking URI', async () => {
    const r = await load('  - use: mlflow\n    with: {tracking_uri: "http://127.0.0.1:5000"}');
    const ref = r.config.logger.find((l) => l.use === 'mlflow')!;
    expect(ref.with).toEqual({ tracking_uri: 'http://127.0.0.1:5000', experiment: 'gzx' });
  });

  it('a misspelt option is named with its place in the file and a suggestion', async () => {
    await expect(load('  - use: mlflow\n    with: {tracking_uri: "http://127.0.0.1:5000", experimnt: galaxy}')).rejects.toThrow(
      /experimnt[\s\S]*experiment/,
    );
  });
});
