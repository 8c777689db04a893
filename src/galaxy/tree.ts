// The Galaxy Zoo 2 decision tree as the Kaggle challenge encodes it: the single source of truth
// for questions, the 37 column names, answer labels and parent weights
// (see shared/galaxy-zoo/decision-tree.md). Head, metric, CSV I/O, descriptions and plots use it.

export interface Question {
  /** 1-based question number (Q1…Q11). */
  number: number;
  /** Short text of the question. */
  text: string;
  /** Answer labels, in column order. */
  answers: readonly string[];
  /** First column (0-based) of this question in the 37-vector. */
  start: number;
  /** Column whose (normalised, weighted) value weights this question; null for weight 1. */
  parent: number | null;
}

const Q = (number: number, text: string, answers: string[], parentColumn: string | null) => ({
  number,
  text,
  answers,
  parentColumn,
});

const SPEC = [
  Q(1, 'smooth?', ['smooth', 'features or disk', 'star or artifact'], null),
  Q(2, 'edge-on?', ['yes', 'no'], 'Class1.2'),
  Q(3, 'bar?', ['yes', 'no'], 'Class2.2'),
  Q(4, 'spiral arms?', ['yes', 'no'], 'Class2.2'),
  Q(5, 'bulge prominence', ['none', 'just noticeable', 'obvious', 'dominant'], 'Class2.2'),
  // Q6 follows the data (weight 1), not the tree (1 − Class1.3).
  Q(6, 'anything odd?', ['yes', 'no'], null),
  Q(7, 'how round?', ['completely round', 'in between', 'cigar-shaped'], 'Class1.1'),
  Q(8, 'odd feature', ['ring', 'lens or arc', 'disturbed', 'irregular', 'other', 'merger', 'dust lane'], 'Class6.1'),
  Q(9, 'bulge shape (edge-on)', ['rounded', 'boxy', 'no bulge'], 'Class2.1'),
  Q(10, 'arm tightness', ['tight', 'medium', 'loose'], 'Class4.1'),
  Q(11, 'arm count', ['1', '2', '3', '4', 'more than four', "can't tell"], 'Class4.1'),
];

/** `Class1.1` … `Class11.6`, in the order of the solutions CSV. */
export const COLUMNS: readonly string[] = SPEC.flatMap((q) => q.answers.map((_, i) => `Class${q.number}.${i + 1}`));

export const NUM_COLUMNS = COLUMNS.length; // 37

export const QUESTIONS: readonly Question[] = (() => {
  let start = 0;
  return SPEC.map((q) => {
    const out: Question = {
      number: q.number,
      text: q.text,
      answers: q.answers,
      start,
      parent: q.parentColumn === null ? null : COLUMNS.indexOf(q.parentColumn),
    };
    start += q.answers.length;
    return out;
  });
})();

/** Header of a Kaggle solutions/submission CSV. */
export const CSV_HEADER: readonly string[] = ['GalaxyID', ...COLUMNS];

/** Question index (0-based) of every column. */
export const COLUMN_QUESTION: readonly number[] = QUESTIONS.flatMap((q, qi) => q.answers.map(() => qi));

/** Human label of a column, e.g. `Class7.2` → "Q7 how round?: in between". */
export function columnLabel(column: number): string {
  const q = QUESTIONS[COLUMN_QUESTION[column]];
  return `Q${q.number} ${q.text}: ${q.answers[column - q.start]}`;
}

export const NORMALISE_EPSILON = 1e-12;

/**
 * The normalisation ("galaxy output") layer on plain arrays: clip at 0, normalise each question
 * to sum 1, multiply by the parent column's already-normalised value, in tree order.
 */
export function normaliseAnswers(rows: number[][]): number[][] {
  return rows.map((row, r) => {
    if (row.length !== NUM_COLUMNS) {
      throw new Error(`normaliseAnswers: row ${r} has ${row.length} values, expected ${NUM_COLUMNS}.`);
    }
    const out = new Array<number>(NUM_COLUMNS).fill(0);
    normaliseRows(row, out);
    return out;
  });
}

type Numbers = { [i: number]: number; readonly length: number };

/**
 * normaliseAnswers on rows of 37 values laid end to end, into `out` (same length). Questions come
 * parents first (the spec's order), so each parent value is final when its children need it.
 */
export function normaliseRows(values: Numbers, out: Numbers): void {
  for (let base = 0; base < values.length; base += NUM_COLUMNS) normaliseRow(values, base, out, base);
}

/** One row (values[base…]) into out[outBase…]; each question's total (+ ε) into `totals` if given. */
function normaliseRow(values: Numbers, base: number, out: Numbers, outBase: number, totals?: Float64Array): void {
  for (const [qi, q] of QUESTIONS.entries()) {
    let sum = 0;
    for (let i = q.start; i < q.start + q.answers.length; i++) sum += Math.max(0, values[base + i]);
    if (totals) totals[qi] = sum + NORMALISE_EPSILON;
    const weight = q.parent === null ? 1 : out[outBase + q.parent];
    for (let i = q.start; i < q.start + q.answers.length; i++) {
      out[outBase + i] = (Math.max(0, values[base + i]) / (sum + NORMALISE_EPSILON)) * weight;
    }
  }
}

/**
 * The gradient of normaliseRows: given the inputs and the gradient `dy` of a loss with respect to
 * the outputs, writes the gradient with respect to the inputs into `dx` (0 where an input is ≤ 0, as
 * ReLU's). With n = clip(x)/(s + ε) per question and y = n·y(parent): a question's outputs pass
 * Σ dy·n on to their parent column, children first; then dx = (dn − Σ dn·n)/(s + ε), dn = dy·y(parent).
 */
export function normaliseRowsGradient(values: Numbers, dy: Numbers, dx: Numbers): void {
  const y = new Float64Array(NUM_COLUMNS);
  const grad = new Float64Array(NUM_COLUMNS);
  const totals = new Float64Array(QUESTIONS.length);
  for (let base = 0; base < values.length; base += NUM_COLUMNS) {
    normaliseRow(values, base, y, 0, totals);
    for (let i = 0; i < NUM_COLUMNS; i++) grad[i] = dy[base + i];
    for (let qi = QUESTIONS.length - 1; qi >= 0; qi--) {
      const q = QUESTIONS[qi];
      const weight = q.parent === null ? 1 : y[q.parent];
      let toParent = 0; // Σ dy·n over the question: d loss / d y(parent) through this question
      for (let i = q.start; i < q.start + q.answers.length; i++) toParent += grad[i] * (Math.max(0, values[base + i]) / totals[qi]);
      for (let i = q.start; i < q.start + q.answers.length; i++) {
        dx[base + i] = values[base + i] > 0 ? ((grad[i] - toParent) * weight) / totals[qi] : 0;
      }
      if (q.parent !== null) grad[q.parent] += toParent;
    }
  }
}
