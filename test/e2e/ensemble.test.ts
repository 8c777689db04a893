// `gzx ensemble`: differently seeded tiny models from a real sweep, scored on a held-out synthetic
// set; the ensemble must beat the mean of its members, its rows obey the tree, a member's RMSE is
// what `gzx predict` + `gzx evaluate` give, and the shared validation split works without -i.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readSolutionsCsv } from '../../src/galaxy/csv.js';
import { QUESTIONS } from '../../src/galaxy/tree.js';
import { ensembleWeights, parseWeights } from '../../src/galaxy/ensemble.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { BIN } from '../helpers/paths.js';
import { tinyExperimentYaml } from '../helpers/tiny-config.js';

const tmpDir = useTmpDir('gzx-ensemble-');
const gzx = (args: string[]) =>
  promisify(execFile)(process.execPath, [BIN, ...args], { cwd: tmpDir(), env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('ensemble weights', () => {
  it('are scaled to sum 1, one per member, non-negative', () => {
    expect(ensembleWeights(3)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(ensembleWeights(2, parseWeights('3,1'))).toEqual([0.75, 0.25]);
    expect(() => ensembleWeights(3, [1, 1])).toThrow(/2 value\(s\) for 3 model\(s\)/);
    expect(() => parseWeights('1,x')).toThrow(/"x" is not a number/);
    expect(() => ensembleWeights(2, [1, -1])).toThrow(/non-negative/);
  });
});

describe('gzx ensemble, end to end', () => {
  it('an ensemble of differently seeded models scores below the mean of its members on a held-out set', async () => {
    await fs.writeFile(path.join(tmpDir(), 'tiny.yaml'), tinyExperimentYaml({ seed: 1, count: 160, augment: '[{use: flip}]', lr: 0.01, epochs: 3 }));
    const sweep = await gzx(['sweep', 'tiny.yaml', '-p', 'seed=1,2,3', '--jobs', '2']);
    expect(sweep.code, sweep.stderr).toBe(0);
    const sweepDir = /sweep finished: (\S+)/.exec(sweep.stdout)![1];
    const synth = await gzx(['data', 'synth', '--out', 'heldout', '--count', '100', '--size', '96', '--seed', '99']);
    expect(synth.code, synth.stderr).toBe(0);

    const r = await gzx([
      'ensemble',
      '--from-sweep',
      sweepDir,
      '--top',
      '3',
      '-i',
      'heldout/images_training_rev1',
      '-t',
      'heldout/training_solutions_rev1.csv',
      '-o',
      'ens.csv',
      '--tta',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const members = [...r.stdout.matchAll(/^(\S+)\s+weight 0\.333\s+RMSE (0\.\d{4})$/gm)].map((m) => ({ run: m[1], rmse: Number(m[2]) }));
    expect(members).toHaveLength(3);
    const ensemble = Number(/^ensemble\s+RMSE (0\.\d{4})/m.exec(r.stdout)![1]);
    const mean = members.reduce((a, m) => a + m.rmse, 0) / 3;
    process.stderr.write(`[ensemble test] members ${members.map((m) => m.rmse).join(', ')} (mean ${mean.toFixed(4)}), ensemble ${ensemble}\n`);
    expect(ensemble).toBeLessThan(mean);
    expect(r.stdout).toContain('scored on 100 of 100 images');

    // The submission obeys the tree.
    const table = await readSolutionsCsv(path.join(tmpDir(), 'ens.csv'));
    expect(table.ids).toHaveLength(100);
    for (const row of table.rows) {
      for (const q of QUESTIONS) {
        const sum = q.answers.reduce((s: number, _a: unknown, i: number) => s + row[q.start + i], 0);
        expect(Math.abs(sum - (q.parent === null ? 1 : row[q.parent]))).toBeLessThan(1e-4);
      }
    }

    // A member's RMSE is what predict + evaluate say for that model alone.
    const one = await gzx(['predict', '-m', members[0].run, '-i', 'heldout/images_training_rev1', '-o', 'one.csv', '--tta', '2']);
    expect(one.code, one.stderr).toBe(0);
    const evaluated = await gzx(['evaluate', '-p', 'one.csv', '-t', 'heldout/training_solutions_rev1.csv', '--json']);
    expect(JSON.parse(evaluated.stdout).rmse).toBeCloseTo(members[0].rmse, 3);

    // Without -i: the validation split the trials share.
    const valid = await gzx(['ensemble', '--from-sweep', sweepDir, '--top', '2']);
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stderr).toMatch(/scoring on the validation split the 2 runs share \(32 images\)/);
    expect(valid.stdout).toMatch(/^ensemble\s+RMSE 0\.\d{4}/m);

    // Mistakes: one line each.
    const tooMany = await gzx(['ensemble', '--from-sweep', sweepDir, '--top', '5']);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr.trim()).toMatch(/^gzx: --from-sweep .*: 3 finished trial\(s\) with a valid_rmse, fewer than --top 5\. Lower --top/);
    const badWeights = await gzx(['ensemble', '--from-sweep', sweepDir, '--top', '2', '--weights', '1,2,3']);
    expect(badWeights.stderr.trim()).toBe('gzx: --weights has 3 value(s) for 2 model(s). Give one weight per -m, in the same order.');
  }, 400_000);
});
