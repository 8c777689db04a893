// The challenge's metric: RMSE over all 37 columns of all galaxies, plus per-question views
// and the "predict the training mean" baseline every model must beat.
// Truth cells may be unknown (NaN: an empty cell of a partial catalogue): every score here is then
// taken over the known cells only, and a question without a known cell has no score (null).
import { NUM_COLUMNS, QUESTIONS, COLUMN_QUESTION } from './tree.js';

/** Rows of 37 answers: Float32Array[] or number[][]. */
export type AnswerRows = ArrayLike<ArrayLike<number>>;

/**
 * Running sums of squared errors and of known cells, per column, in float64: lets a validation
 * loop score batch by batch without keeping every prediction. Unknown (NaN) truth cells are skipped.
 */
export class SquaredErrorSums {
  readonly columnSums = new Float64Array(NUM_COLUMNS);
  /** Known truth cells per column. */
  readonly columnCounts = new Float64Array(NUM_COLUMNS);
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
        if (Number.isNaN(t[c])) continue;
        const d = p[c] - t[c];
        this.columnSums[c] += d * d;
        this.columnCounts[c] += 1;
      }
    }
    this.rows += pred.length;
    return this;
  }

  /** sqrt(mean over every known cell of the squared error): the Kaggle score when every cell is known. */
  rmse(): number {
    this.assertRows();
    let total = 0;
    let cells = 0;
    for (let c = 0; c < NUM_COLUMNS; c++) {
      total += this.columnSums[c];
      cells += this.columnCounts[c];
    }
    if (cells === 0) throw new Error('metrics: no known truth cell to score');
    return Math.sqrt(total / cells);
  }

  /** RMSE over each question's known cells; index 0 is Q1, 10 is Q11; null where none is known. */
  perQuestion(): (number | null)[] {
    this.assertRows();
    const sums = new Array<number>(QUESTIONS.length).fill(0);
    const cells = new Array<number>(QUESTIONS.length).fill(0);
    for (let c = 0; c < NUM_COLUMNS; c++) {
      sums[COLUMN_QUESTION[c]] += this.columnSums[c];
      cells[COLUMN_QUESTION[c]] += this.columnCounts[c];
    }
    return QUESTIONS.map((_, qi) => (cells[qi] > 0 ? Math.sqrt(sums[qi] / cells[qi]) : null));
  }

  /** Which cells were scored: known columns, known cells of all, and the questions with none. */
  coverage(): LabelCoverage {
    return coverageOf(this.columnCounts, this.rows);
  }

  private assertRows(): void {
    if (this.rows === 0) throw new Error('metrics: no rows to score');
  }
}

/** How much of a label table is known. */
export interface LabelCoverage {
  /** Cells that hold a value, and all cells (rows × 37). */
  knownCells: number;
  cells: number;
  /** Columns with at least one known cell. */
  knownColumns: number;
  /** Question numbers (1…11) with no known cell at all. */
  unknownQuestions: number[];
  /** Whether any cell is unknown. */
  partial: boolean;
}

function coverageOf(columnCounts: ArrayLike<number>, rows: number): LabelCoverage {
  let knownCells = 0;
  let knownColumns = 0;
  const questionKnown = new Array<boolean>(QUESTIONS.length).fill(false);
  for (let c = 0; c < NUM_COLUMNS; c++) {
    knownCells += columnCounts[c];
    if (columnCounts[c] > 0) {
      knownColumns += 1;
      questionKnown[COLUMN_QUESTION[c]] = true;
    }
  }
  const cells = rows * NUM_COLUMNS;
  const unknownQuestions = QUESTIONS.flatMap((q, qi) => (questionKnown[qi] ? [] : [q.number]));
  return { knownCells, cells, knownColumns, unknownQuestions, partial: knownCells < cells };
}

/** Coverage of a label table (NaN = unknown cell). */
export function labelCoverage(rows: AnswerRows): LabelCoverage {
  const counts = new Float64Array(NUM_COLUMNS);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    for (let c = 0; c < NUM_COLUMNS; c++) if (!Number.isNaN(row[c])) counts[c] += 1;
  }
  return coverageOf(counts, rows.length);
}

/** "17 of 37 columns known" for a partial table; null when every cell is known. */
export function coverageNote(coverage: LabelCoverage): string | null {
  return coverage.partial ? `${coverage.knownColumns} of ${NUM_COLUMNS} columns known` : null;
}

export function rmse(pred: AnswerRows, truth: AnswerRows): number {
  return new SquaredErrorSums().add(pred, truth).rmse();
}

/** RMSE per question (index 0 = Q1 … 10 = Q11); null for a question with no known truth cell. */
export function perQuestionRmse(pred: AnswerRows, truth: AnswerRows): (number | null)[] {
  return new SquaredErrorSums().add(pred, truth).perQuestion();
}

/** `{q1: …, …, q11: …}`, the keys the run logs as valid_rmse_q1…q11; questions with no known cell are left out. */
export function perQuestionRmseRecord(pred: AnswerRows, truth: AnswerRows): Record<string, number> {
  const values = perQuestionRmse(pred, truth);
  return Object.fromEntries(QUESTIONS.flatMap((q, qi) => (values[qi] === null ? [] : [[`q${q.number}`, values[qi]]])));
}

/**
 * Mean of every column over its known cells (float64); NaN for a column with no known cell.
 */
export function columnMeans(rows: AnswerRows): Float64Array {
  if (rows.length === 0) throw new Error('columnMeans: no rows');
  const sums = new Float64Array(NUM_COLUMNS);
  const counts = new Float64Array(NUM_COLUMNS);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (row.length !== NUM_COLUMNS) throw new Error(`columnMeans: row ${r} has ${row.length} values, expected ${NUM_COLUMNS}`);
    for (let c = 0; c < NUM_COLUMNS; c++) {
      if (Number.isNaN(row[c])) continue;
      sums[c] += row[c];
      counts[c] += 1;
    }
  }
  for (let c = 0; c < NUM_COLUMNS; c++) sums[c] = counts[c] > 0 ? sums[c] / counts[c] : NaN;
  return sums;
}

/**
 * RMSE on the validation rows' known cells of predicting every column's training mean. A column
 * that no training row knows has no mean; the baseline predicts 0 there (documented in
 * docs/partial-labels.md), so it scores the same cells as valid_rmse.
 */
export function baselineRmse(trainRows: AnswerRows, validRows: AnswerRows): number {
  const means = columnMeans(trainRows).map((m) => (Number.isNaN(m) ? 0 : m));
  const sums = new SquaredErrorSums();
  for (let r = 0; r < validRows.length; r++) sums.add([means], [validRows[r]]);
  return sums.rmse();
}
