import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { evaluateFiles, formatEvaluation } from '../../src/galaxy/evaluate.js';
import { REPO, BIN } from '../helpers/paths.js';
import { userError } from '../helpers/user-error.js';

const root = REPO;
const fx = (name: string) => path.join(root, 'test/fixtures/csv', name);
const truth = fx('truth-3.csv');

describe('evaluateFiles', () => {
  it('matches rows by GalaxyID and scores like the challenge', async () => {
    // pred-3: galaxy 3 off by 0.1 everywhere, 100 exact, 20 off by 0.5 in Class1.1 only; rows shuffled.
    const r = await evaluateFiles(fx('pred-3.csv'), truth);
    expect(r.galaxies).toBe(3);
    expect(r.rmse).toBeCloseTo(Math.sqrt((37 * 0.01 + 0.25) / 111), 6);
    expect(r.perQuestion).toHaveLength(11);
    expect(r.perQuestion[0]).toMatchObject({ question: 1, answers: 3 });
    expect(r.perQuestion[0].rmse).toBeCloseTo(Math.sqrt((3 * 0.01 + 0.25) / 9), 6);
    expect(r.perQuestion[1].rmse).toBeCloseTo(Math.sqrt(0.01 / 3), 6);
    const text = formatEvaluation(r);
    expect(text).toContain('RMSE:        0.07474');
    expect(text).toMatch(/Q8\s+odd feature\s+7\s+0\.05774/);
  });

  it('scores a partial truth file over its known cells, and says so', async () => {
    // truth-3-partial: truth-3 with Q3, Q4, Q5, Q9, Q10, Q11 empty (17 of 37 columns known), as real-1000 is.
    const r = await evaluateFiles(fx('pred-3.csv'), fx('truth-3-partial.csv'));
    expect(r.rmse).toBeCloseTo(Math.sqrt((17 * 0.01 + 0.25) / 51), 6);
    expect(r.perQuestion[0].rmse).toBeCloseTo(Math.sqrt((3 * 0.01 + 0.25) / 9), 6);
    expect(r.perQuestion[2].rmse).toBeNull();
    expect(r.coverage).toMatchObject({ knownColumns: 17, knownCells: 51, cells: 111, unknownQuestions: [3, 4, 5, 9, 10, 11] });
    const text = formatEvaluation(r);
    expect(text).toContain('known cells only: 17 of 37 columns known, 51 of 111 cells');
    expect(text).toMatch(/Q3\s+bar\?\s+2\s+–  \(no known answer\)/);
    expect(text).not.toContain('NaN');
  });

  it('accepts predictions outside [0, 1] as long as they are numbers', async () => {
    const r = await evaluateFiles(fx('pred-outside-unit.csv'), truth);
    // galaxy 3: 0.1 on 37 columns; galaxy 20: 1.0 in Class11.6.
    expect(r.rmse).toBeCloseTo(Math.sqrt((0.37 + 1) / 111), 6);
  });

  it('names the galaxies the predictions miss', async () => {
    const msg = await userError(evaluateFiles(fx('pred-missing.csv'), truth));
    expect(msg).toContain('pred-missing.csv has no row for 1 galaxy of truth file');
    expect(msg).toContain('GalaxyID 20 (truth row 3)');
  });

  it('names predictions for galaxies not in the truth', async () => {
    const msg = await userError(evaluateFiles(fx('pred-extra.csv'), truth));
    expect(msg).toContain('GalaxyID 7 (row 5)');
    expect(msg).toContain('not in truth file');
  });

  it('rejects duplicate prediction ids with both rows', async () => {
    const msg = await userError(evaluateFiles(fx('pred-duplicate.csv'), truth));
    expect(msg).toContain('pred-duplicate.csv, row 4, column GalaxyID: id 3 appears again (first on row 2)');
  });

  it('rejects a wrong header naming the column', async () => {
    const msg = await userError(evaluateFiles(fx('pred-bad-header.csv'), truth));
    expect(msg).toContain('pred-bad-header.csv, row 1 (header): column 18 is "Class7.5", expected Class7.2');
  });

  it('rejects a non-numeric prediction naming row and column', async () => {
    const msg = await userError(evaluateFiles(fx('pred-non-numeric.csv'), truth));
    expect(msg).toContain('pred-non-numeric.csv, row 3, column Class8.3: "n/a" is not a number');
  });

  it('rejects a short row', async () => {
    const msg = await userError(evaluateFiles(fx('pred-short-row.csv'), truth));
    expect(msg).toContain('pred-short-row.csv, row 3: has 3 cells, expected 38');
  });

  it('rejects truth values outside [0, 1]', async () => {
    const msg = await userError(evaluateFiles(fx('pred-3.csv'), fx('truth-outside-unit.csv')));
    expect(msg).toContain('truth file');
    expect(msg).toContain('truth-outside-unit.csv, row 3, column Class11.6: -0.25 is outside [0, 1]');
  });

  it('names a missing truth file', async () => {
    const msg = await userError(evaluateFiles(fx('pred-3.csv'), fx('nope.csv')));
    expect(msg).toMatch(/truth file .*nope\.csv does not exist/);
  });
});

describe('gzx evaluate (compiled CLI)', () => {
  const run = (args: string[]) =>
    promisify(execFile)('node', [BIN, 'evaluate', ...args], { cwd: root }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
    );

  it('prints the score table', async () => {
    const r = await run(['--predictions', fx('pred-3.csv'), '--truth', truth]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('galaxies:    3');
    expect(r.stdout).toContain('RMSE:        0.07474');
  });

  it('prints JSON with --json', async () => {
    const r = await run(['-p', fx('pred-3.csv'), '-t', truth, '--json']);
    expect(JSON.parse(r.stdout).rmse).toBeCloseTo(0.074737, 5);
  });

  it('reports a user mistake in one line, exit 1, no stack trace', async () => {
    const r = await run(['--predictions', fx('pred-missing.csv'), '--truth', truth]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('GalaxyID 20');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
