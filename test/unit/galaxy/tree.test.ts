import { describe, it, expect } from 'vitest';
import { COLUMNS, CSV_HEADER, NUM_COLUMNS, QUESTIONS, columnLabel, normaliseAnswers } from '../../../src/galaxy/tree.js';
import { HAND_INPUT, HAND_OUTPUT, REAL_LIKE_LABEL } from '../../fixtures/csv/galaxy-rows.js';

describe('tree', () => {
  it('has the 37 Kaggle columns in order, behind GalaxyID', () => {
    expect(NUM_COLUMNS).toBe(37);
    expect(CSV_HEADER[0]).toBe('GalaxyID');
    expect(COLUMNS.slice(0, 4)).toEqual(['Class1.1', 'Class1.2', 'Class1.3', 'Class2.1']);
    expect(COLUMNS[36]).toBe('Class11.6');
    expect(columnLabel(COLUMNS.indexOf('Class7.2'))).toBe('Q7 how round?: in between');
  });

  it('weights each question by the parent given in decision-tree.md', () => {
    const parentOf = Object.fromEntries(QUESTIONS.map((q) => [q.number, q.parent === null ? null : COLUMNS[q.parent]]));
    expect(parentOf).toEqual({
      1: null,
      2: 'Class1.2',
      3: 'Class2.2',
      4: 'Class2.2',
      5: 'Class2.2',
      6: null,
      7: 'Class1.1',
      8: 'Class6.1',
      9: 'Class2.1',
      10: 'Class4.1',
      11: 'Class4.1',
    });
    // Slices from the table: Q5 is columns 9..13, Q11 is 31..37.
    expect([QUESTIONS[4].start, QUESTIONS[4].answers.length]).toEqual([9, 4]);
    expect([QUESTIONS[10].start, QUESTIONS[10].answers.length]).toEqual([31, 6]);
  });

  it('normaliseAnswers gives the hand-computed output', () => {
    const [out] = normaliseAnswers([HAND_INPUT]);
    out.forEach((v, i) => expect(v, COLUMNS[i]).toBeCloseTo(HAND_OUTPUT[i], 9));
  });

  it('normaliseAnswers leaves a real label vector unchanged', () => {
    const [out] = normaliseAnswers([REAL_LIKE_LABEL]);
    out.forEach((v, i) => expect(Math.abs(v - REAL_LIKE_LABEL[i]), COLUMNS[i]).toBeLessThan(1e-5));
  });

  it('normaliseAnswers rejects a row of the wrong length', () => {
    expect(() => normaliseAnswers([[1, 2, 3]])).toThrow(/expected 37/);
  });
});

describe('package entry (gzx)', () => {
  it('exports the tree, metrics, CSV helpers, descriptions and the head', async () => {
    const gzx = await import('../../../src/index.js');
    expect(gzx.COLUMNS).toBe(COLUMNS);
    expect(gzx.CSV_HEADER).toBe(CSV_HEADER);
    expect(gzx.normaliseAnswers([HAND_INPUT])[0][3]).toBeCloseTo(0.375, 9);
    expect(gzx.rmse([HAND_OUTPUT], [HAND_OUTPUT])).toBe(0);
    expect(gzx.describeAnswers(REAL_LIKE_LABEL)).toMatch(/^features\/disk/);
    for (const name of [
      'readSolutionsCsv',
      'writeSolutionsCsv',
      'openSolutionsWriter',
      'perQuestionRmse',
      'baselineRmse',
      'columnMeans',
      'evaluateFiles',
      'predictToCsv',
      'resultsGrid',
    ]) {
      expect(typeof (gzx as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(gzx.galaxyZooHead.kind).toBe('head');
  });
});
