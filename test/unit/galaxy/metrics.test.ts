import { describe, it, expect } from 'vitest';
import {
  rmse,
  perQuestionRmse,
  perQuestionRmseRecord,
  columnMeans,
  baselineRmse,
  SquaredErrorSums,
  labelCoverage,
  coverageNote,
} from '../../../src/galaxy/metrics.js';
import { COLUMNS, NUM_COLUMNS, QUESTIONS } from '../../../src/galaxy/tree.js';

const filled = (v: number) => new Array<number>(NUM_COLUMNS).fill(v);
const col = (name: string) => COLUMNS.indexOf(name);

describe('rmse', () => {
  it('is sqrt of the mean over galaxies and all 37 columns', () => {
    const truth = [filled(0), filled(0)];
    const pred = [filled(0), filled(0)];
    pred[0][col('Class1.1')] = 1;
    pred[1][col('Class11.6')] = 0.5;
    // (1² + 0.5²) / (2 × 37)
    expect(rmse(pred, truth)).toBeCloseTo(Math.sqrt(1.25 / 74), 12);
    expect(rmse([filled(0.5)], [filled(0.25)])).toBeCloseTo(0.25, 12);
  });

  it('gives the same score for Float32Array rows and number[][]', () => {
    const a = [filled(0.3), filled(0.7)];
    const b = [filled(0.1), filled(0.2)];
    const f32 = (rows: number[][]) => rows.map((r) => Float32Array.from(r));
    expect(rmse(f32(a), f32(b))).toBeCloseTo(rmse(a, b), 6);
  });

  it('is 0 for a perfect prediction and refuses mismatched inputs', () => {
    expect(rmse([filled(0.2)], [filled(0.2)])).toBe(0);
    expect(() => rmse([filled(0)], [filled(0), filled(0)])).toThrow(/1 prediction rows but 2 truth rows/);
    expect(() => rmse([[0, 1]], [filled(0)])).toThrow(/expected 37/);
    expect(() => rmse([], [])).toThrow(/no rows/);
  });

  it('accumulates over batches to the same value as one call', () => {
    const pred = Array.from({ length: 5 }, (_, r) => filled(r / 10));
    const truth = Array.from({ length: 5 }, (_, r) => filled(1 - r / 7));
    const sums = new SquaredErrorSums().add(pred.slice(0, 2), truth.slice(0, 2)).add(pred.slice(2), truth.slice(2));
    expect(sums.rmse()).toBeCloseTo(rmse(pred, truth), 12);
    expect(sums.rows).toBe(5);
  });
});

describe('perQuestionRmse', () => {
  it('scores each question over its own columns', () => {
    const pred = [filled(0)];
    pred[0][col('Class1.1')] = 1;
    pred[0][col('Class8.7')] = 0.7;
    const q = perQuestionRmse(pred, [filled(0)]);
    expect(q).toHaveLength(11);
    expect(q[0]).toBeCloseTo(Math.sqrt(1 / 3), 12); // Q1 has 3 answers
    expect(q[7]).toBeCloseTo(Math.sqrt(0.49 / 7), 12); // Q8 has 7
    expect(q.filter((v, i) => i !== 0 && i !== 7)).toEqual(new Array(9).fill(0));
  });

  it('combines back to the overall rmse, weighted by answer counts', () => {
    const pred = [filled(0.1).map((v, i) => v + i / 100), filled(0.9)];
    const truth = [filled(0.4), filled(0.3).map((v, i) => v * (i % 3))];
    const q = perQuestionRmse(pred, truth);
    const combined = Math.sqrt(QUESTIONS.reduce((s, qq, i) => s + q[i] ** 2 * qq.answers.length, 0) / NUM_COLUMNS);
    expect(combined).toBeCloseTo(rmse(pred, truth), 12);
    expect(Object.keys(perQuestionRmseRecord(pred, truth))).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q9', 'q10', 'q11']);
  });
});

describe('columnMeans / baselineRmse', () => {
  it('columnMeans averages each column', () => {
    const m = columnMeans([filled(0.2), Float32Array.from(filled(0.4))]);
    expect(m).toHaveLength(NUM_COLUMNS);
    m.forEach((v) => expect(v).toBeCloseTo(0.3, 6));
  });

  it('baselineRmse is the rmse of predicting the training means', () => {
    const train = [filled(0), filled(1)]; // means 0.5
    const valid = [filled(0.5), filled(0.9)];
    // errors: 0 on the first row, 0.4 on every column of the second
    expect(baselineRmse(train, valid)).toBeCloseTo(Math.sqrt((0.16 * 37) / 74), 12);
    const means = Array.from(columnMeans(train));
    expect(baselineRmse(train, valid)).toBeCloseTo(rmse([means, means], valid), 12);
  });
});

describe('partial labels: unknown (NaN) truth cells', () => {
  /** Q3, Q4, Q5 and Q9–Q11 unknown, as in real-1000's partial catalogue: 17 of 37 columns known. */
  const partial = (v: number) => {
    const row = filled(v);
    for (const q of QUESTIONS) if ([3, 4, 5, 9, 10, 11].includes(q.number)) q.answers.forEach((_, i) => (row[q.start + i] = NaN));
    return row;
  };

  it('scores known cells only; a question with none gets no score, not 0 or NaN', () => {
    const truth = [partial(0), partial(0)];
    const pred = [filled(0.1), filled(0.1)];
    pred[0][col('Class3.1')] = 5; // an unknown cell: never scored
    pred[1][col('Class1.1')] = 0.5;
    // 17 known columns × 2 rows; 33 cells off by 0.1, one by 0.5
    expect(rmse(pred, truth)).toBeCloseTo(Math.sqrt((33 * 0.01 + 0.25) / 34), 12);
    const q = perQuestionRmse(pred, truth);
    expect(q[2]).toBeNull();
    expect(q[0]).toBeCloseTo(Math.sqrt((5 * 0.01 + 0.25) / 6), 12);
    const record = perQuestionRmseRecord(pred, truth);
    expect(Object.keys(record)).toEqual(['q1', 'q2', 'q6', 'q7', 'q8']);
    expect(Object.values(record).every(Number.isFinite)).toBe(true);
  });

  it('a cell unknown in one row only still counts where it is known', () => {
    const a = filled(0);
    const b = filled(0);
    b[col('Class11.6')] = NaN;
    expect(rmse([filled(1), filled(1)], [a, b])).toBe(1);
    const sums = new SquaredErrorSums().add([filled(1), filled(1)], [a, b]);
    expect(sums.columnCounts[col('Class11.6')]).toBe(1);
    expect(sums.columnCounts[col('Class11.5')]).toBe(2);
  });

  it('column means and the baseline skip unknown cells; complete rows score exactly as before', () => {
    const train = [partial(0.2), filled(0.4)];
    const m = columnMeans(train);
    expect(m[col('Class1.1')]).toBeCloseTo(0.3, 12);
    expect(m[col('Class3.1')]).toBeCloseTo(0.4, 12);
    expect(Number.isNaN(columnMeans([partial(0.2)])[col('Class3.1')])).toBe(true);
    // valid known cells only: 17 columns at 0.5 against a mean of 0.3 everywhere known
    expect(baselineRmse(train, [partial(0.5)])).toBeCloseTo(0.2, 12);
    // A column no training row knows is predicted as 0 by the baseline.
    expect(baselineRmse([partial(0.2)], [filled(0.2)])).toBeCloseTo(Math.sqrt((20 * 0.04) / 37), 12);
    // Unchanged for complete labels: the same arithmetic as the challenge's formula.
    const full = Array.from({ length: 4 }, (_, r) => filled(0.1 * r));
    const sums = new SquaredErrorSums().add(full, full.slice().reverse());
    let total = 0;
    for (const v of sums.columnSums) total += v;
    expect(sums.rmse()).toBe(Math.sqrt(total / (4 * 37))); // the formula before partial labels, bit for bit
  });

  it('says how much is known', () => {
    const c = labelCoverage([partial(0.1), filled(0.1)]);
    expect(c).toEqual({ knownCells: 17 + 37, cells: 74, knownColumns: 37, unknownQuestions: [], partial: true });
    const p = labelCoverage([partial(0.1)]);
    expect(p.unknownQuestions).toEqual([3, 4, 5, 9, 10, 11]);
    expect(coverageNote(p)).toBe('17 of 37 columns known');
    expect(coverageNote(labelCoverage([filled(0)]))).toBeNull();
  });
});
