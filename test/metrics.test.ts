import { describe, it, expect } from 'vitest';
import { rmse, perQuestionRmse, perQuestionRmseRecord, columnMeans, baselineRmse, SquaredErrorSums } from '../src/galaxy/metrics.js';
import { COLUMNS, NUM_COLUMNS, QUESTIONS } from '../src/galaxy/tree.js';

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
