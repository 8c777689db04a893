// The challenge's metric: RMSE over all 37 columns of all galaxies, plus per-question views
// and the "predict the training mean" baseline every model must beat.
import { NUM_COLUMNS, QUESTIONS, COLUMN_QUESTION } from './tree.js';

/** Rows of 37 answers: Float32Array[] or number[][]. */
export type AnswerRows = ArrayLike<ArrayLike<number>>;

/**
 * Running sums of squared errors, per column, in float64: lets a validation loop score batch by
 * batch without keeping every prediction.
 */
export class SquaredErrorSums {
  readonly columnSums = new Float64Array(NUM_COLUMNS);
  rows = 0;

  add(pred: AnswerRows, truth: AnswerRows): this {
    if (pred.length !== truth.length) {
      throw new Error(`metrics: ${pred.length} prediction rows but ${truth.length} truth rows`);
    }
    for (let r = 0; r < pred.length; r++) {
      const p = pred[r];
      const t = truth[r];
      if (p.length !== NUM_COLUMNS || t.length !== NUM_COLUMNS) {
        throw new Error(`metrics: row ${r} has ${p.length} predictions and ${t.length} truths, expected ${NUM_COLUMNS}`);
      }
      for (let c = 0; c < NUM_COLUMNS; c++) {
        const d = p[c] - t[c];
        this.columnSums[c] += d * d;
      }
    }
    this.rows += pred.length;
    return this;
  }

  /** sqrt(mean over galaxies and all 37 columns of the squared error): the Kaggle score. */
  rmse(): number {
    this.assertRows();
    let total = 0;
    for (let c = 0; c < NUM_COLUMNS; c++) total += this.columnSums[c];
    return Math.sqrt(total / (this.rows * NUM_COLUMNS));
  }

  /** RMSE over each question's columns; index 0 is Q1, 10 is Q11. */
  perQuestion(): number[] {
    this.assertRows();
    const sums = new Array<number>(QUESTIONS.length).fill(0);
    for (let c = 0; c < NUM_COLUMNS; c++) sums[COLUMN_QUESTION[c]] += this.columnSums[c];
    return QUESTIONS.map((q, qi) => Math.sqrt(sums[qi] / (this.rows * q.answers.length)));
  }

  private assertRows(): void {
    if (this.rows === 0) throw new Error('metrics: no rows to score');
  }
}

export function rmse(pred: AnswerRows, truth: AnswerRows): number {
  return new SquaredErrorSums().add(pred, truth).rmse();
}

/** RMSE per question (index 0 = Q1 … 10 = Q11). */
export function perQuestionRmse(pred: AnswerRows, truth: AnswerRows): number[] {
  return new SquaredErrorSums().add(pred, truth).perQuestion();
}

/** `{q1: …, …, q11: …}`, the keys the run logs as valid_rmse_q1…q11. */
export function perQuestionRmseRecord(pred: AnswerRows, truth: AnswerRows): Record<string, number> {
  const values = perQuestionRmse(pred, truth);
  return Object.fromEntries(QUESTIONS.map((q, qi) => [`q${q.number}`, values[qi]]));
}

/** Mean of every column (float64). */
export function columnMeans(rows: AnswerRows): Float64Array {
  if (rows.length === 0) throw new Error('columnMeans: no rows');
  const sums = new Float64Array(NUM_COLUMNS);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (row.length !== NUM_COLUMNS) throw new Error(`columnMeans: row ${r} has ${row.length} values, expected ${NUM_COLUMNS}`);
    for (let c = 0; c < NUM_COLUMNS; c++) sums[c] += row[c];
  }
  for (let c = 0; c < NUM_COLUMNS; c++) sums[c] /= rows.length;
  return sums;
}

/** RMSE on the validation rows of predicting every column's training mean. */
export function baselineRmse(trainRows: AnswerRows, validRows: AnswerRows): number {
  const means = columnMeans(trainRows);
  const sums = new SquaredErrorSums();
  for (let r = 0; r < validRows.length; r++) sums.add([means], [validRows[r]]);
  return sums.rmse();
}
