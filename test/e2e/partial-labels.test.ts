// Partial labels end to end on real rows (test/fixtures/real-partial: 24 real Kaggle galaxies whose
// CSV knows 17 of 37 columns, the rest empty): a run trains on the known cells, scores and names its
// metrics honestly, and `gzx evaluate` scores its submission against the partial truth the same way.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import path from 'node:path';
import { trainExperiment } from '../../src/app/experiment.js';
import { predictToCsv } from '../../src/galaxy/predict.js';
import { readSolutionsCsv } from '../../src/galaxy/csv.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { REPO, BIN } from '../helpers/paths.js';

const repo = REPO;
const fixture = path.join(repo, 'test', 'fixtures', 'real-partial');
const tmpDir = useTmpDir('gzx-partial-');

describe('partial labels, end to end', () => {
  it('trains on known cells, logs RMSEs over them with a note, and evaluate scores the same cells', async () => {
    const config = path.join(tmpDir(), 'partial.yaml');
    await fs.writeFile(
      config,
      `name: partial
seed: 3
output_dir: ${tmpDir()}/runs
data:
  use: kaggle-galaxy-zoo
  with: {dir: ${fixture}, csv: training_solutions_partial.csv, crop: 224, valid_fraction: 0.25, split_seed: 0}
backbone: {use: simple-cnn, with: {channels: [8, 16]}}
head: {use: galaxy-zoo, with: {ps: 0.1, hidden: 16}}
logger: []
train: {size: 24, batch_size: 6, lr: 0.003, workers: 0, phases: [{epochs: 2}]}
`,
    );
    const said: string[] = [];
    const result = await trainExperiment({ configFile: config, log: (m) => said.push(m) });
    expect(result.status).toBe('FINISHED');
    expect(said.join('\n')).toContain(
      'labels: 17 of 37 columns known (no answer known for Q3, Q4, Q5, Q9, Q10, Q11); 480 of 888 cells empty (unknown).',
    );
    const final = result.summary.final as Record<string, number>;
    expect(Number.isFinite(final.valid_rmse) && Number.isFinite(final.baseline_rmse)).toBe(true);
    expect(result.summary.metric_notes).toEqual({ valid_rmse: '17 of 37 columns known', baseline_rmse: '17 of 37 columns known' });
    // No per-question metric for a question without a known cell (not 0, not NaN), in the summary or the metrics file.
    const keys = new Set(
      (await fs.readFile(path.join(result.runDir, 'metrics.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).key as string),
    );
    expect([...keys].filter((k) => k.startsWith('valid_rmse_q')).sort()).toEqual([
      'valid_rmse_q1',
      'valid_rmse_q2',
      'valid_rmse_q6',
      'valid_rmse_q7',
      'valid_rmse_q8',
    ]);
    const meta = JSON.parse(await fs.readFile(path.join(result.runDir, 'meta.json'), 'utf8'));
    expect(meta.tags['gzx.labels']).toMatch(/^17 of 37 columns known/);

    // The run's model predicts all 37 answers; evaluate scores only the truth's known cells.
    const submission = path.join(tmpDir(), 'submission.csv');
    await predictToCsv({ model: result.runDir, images: path.join(fixture, 'images_training_rev1'), out: submission });
    expect((await readSolutionsCsv(submission, { allowUnknown: false })).rows.every((r) => r.every(Number.isFinite))).toBe(true);
    const { stdout } = await promisify(execFile)('node', [
      BIN,
      'evaluate',
      '-p',
      submission,
      '-t',
      path.join(fixture, 'training_solutions_partial.csv'),
    ]);
    expect(stdout).toMatch(/RMSE: {8}0\.\d{5} {2}\(known cells only: 17 of 37 columns known, 408 of 888 cells/);
    expect(stdout).toMatch(/Q11\s+arm count\s+6\s+–  \(no known answer\)/);
    expect(stdout).not.toContain('NaN');
  }, 120_000);
});
