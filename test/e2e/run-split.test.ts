// Runs state their split: valid_fraction 0 trains to the end with no validation set (and says so
// once), a fixed validation set is named in the log and in summary.json, and a bad list stops the
// CLI with one line and no stack trace.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { trainExperiment } from '../../src/app/experiment.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { BIN } from '../helpers/paths.js';

const tmpDir = useTmpDir('gzx-run-split-');

/** A tiny experiment on 40 synthetic galaxies of 48 px, shared by the tests; `data` adds split options. */
async function writeConfig(name: string, data: string): Promise<string> {
  const file = path.join(tmpDir(), `${name}.yaml`);
  await fs.writeFile(
    file,
    `name: ${name}
seed: 5
output_dir: ${path.join(tmpDir(), 'runs')}
data:
  use: synthetic
  with: {dir: data, count: 40, size: 48${data}}
backbone: {use: simple-cnn, with: {channels: [4, 8]}}
head: {use: galaxy-zoo, with: {hidden: 8}}
logger: []
train: {size: 16, batch_size: 8, workers: 0, phases: [{epochs: 2}]}
`,
  );
  return file;
}

async function readJson(file: string): Promise<Record<string, any>> {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

describe('the split of a run', () => {
  it('valid_fraction 0: trains every epoch with no validation set, says so once, and writes its folder', async () => {
    const said: string[] = [];
    const result = await trainExperiment({ configFile: await writeConfig('no-valid', ', valid_fraction: 0'), log: (m) => said.push(m) });
    expect(result.status).toBe('FINISHED');
    const noValid = said.filter((m) => m.includes('no validation set'));
    expect(noValid).toEqual(['data: 40 training galaxies; no validation set (valid_fraction 0): no validation metrics']);
    const metrics = (await fs.readFile(path.join(result.runDir, 'metrics.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.key === 'train_loss')).toHaveLength(2 * 5);
    expect(metrics.filter((m) => m.key === 'epoch')).toHaveLength(2);
    expect(metrics.some((m) => String(m.key).startsWith('valid_') || m.key === 'baseline_rmse')).toBe(false);
    const summary = await readJson(path.join(result.runDir, 'summary.json'));
    expect(summary.status).toBe('FINISHED');
    expect(summary.data).toMatchObject({ method: 'random', valid_fraction: 0, split_seed: 0, train: 40, valid: 0 });
    expect(summary.data.fingerprint).toMatch(/^[0-9a-f]{12}$/);
    const files = await fs.readdir(path.join(result.runDir, 'artifacts'));
    expect(files).toContain('curves.png');
    expect(files).not.toContain('predictions.png'); // no validation galaxies to show
    expect((await readJson(path.join(result.runDir, 'meta.json'))).artifacts).not.toContain(path.join('artifacts', 'predictions.png'));
    expect(await fs.stat(path.join(result.runDir, 'model', 'model.json'))).toBeTruthy();
  });

  it('a fixed validation set is named in the log and summary.json, and the overlap is taken out of training', async () => {
    await fs.writeFile(path.join(tmpDir(), 'held-out.txt'), '100001\n100004\n100009\n100016\n');
    const said: string[] = [];
    const result = await trainExperiment({ configFile: await writeConfig('fixed-valid', ', valid: held-out.txt'), log: (m) => said.push(m) });
    expect(result.status).toBe('FINISHED');
    expect(said).toContain(
      'data: 36 training and 4 validation galaxies, the validation set fixed by held-out.txt (a list of GalaxyIDs), taken out of training_solutions_rev1.csv',
    );
    const summary = await readJson(path.join(result.runDir, 'summary.json'));
    expect(summary.data).toMatchObject({
      method: 'fixed',
      valid_set: path.join(tmpDir(), 'held-out.txt'),
      valid_form: 'ids',
      train: 36,
      valid: 4,
      removed_from_train: 4,
    });
    expect(summary.final.valid_rmse).toBeGreaterThan(0);
  });

  it('gzx run with an unknown GalaxyID in the list: exit 1, one line naming file, line and fix, no stack trace', async () => {
    await fs.writeFile(path.join(tmpDir(), 'typo.txt'), '100001\n10004\n');
    const config = await writeConfig('typo', ', valid: typo.txt');
    const child = spawn(process.execPath, [BIN, 'run', config], { cwd: tmpDir() });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(stderr).not.toMatch(/\n\s+at /);
    const errorLines = stderr.split('\n').filter((l) => l.includes('data.with.valid'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(`1 of 2 GalaxyIDs in ${path.join(tmpDir(), 'typo.txt')} are not in`);
    expect(errorLines[0]).toContain('10004 (line 2)');
    expect(errorLines[0]).toContain('remove those ids');
  });
});
