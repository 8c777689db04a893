// Scores a predictions CSV against a truth CSV the way the challenge does, matching rows by GalaxyID.
import { UserError } from '../base/errors.js';
import { readSolutionsCsv } from './csv.js';
import { SquaredErrorSums, coverageNote, type LabelCoverage } from './metrics.js';
import { NUM_COLUMNS, QUESTIONS } from './tree.js';

export interface QuestionScore {
  question: number;
  text: string;
  answers: number;
  /** Null when the truth file knows no answer of this question. */
  rmse: number | null;
}

export interface EvaluationReport {
  predictionsFile: string;
  truthFile: string;
  galaxies: number;
  /** Over the truth file's known cells (all of them in a complete file, as the challenge scores). */
  rmse: number;
  perQuestion: QuestionScore[];
  coverage: LabelCoverage;
}

const EXAMPLES = 5;

function listSome(items: string[]): string {
  const shown = items.slice(0, EXAMPLES).join('; ');
  return items.length > EXAMPLES ? `${shown}; and ${items.length - EXAMPLES} more` : shown;
}

export async function evaluateFiles(predictionsFile: string, truthFile: string): Promise<EvaluationReport> {
  // Predictions only need to be numbers (a model without the normalisation layer may leave [0, 1]).
  const pred = await readSolutionsCsv(predictionsFile, { unitRange: false, role: 'predictions file', allowUnknown: false });
  const truth = await readSolutionsCsv(truthFile, { unitRange: true, role: 'truth file' });
  if (truth.ids.length === 0) throw new UserError(`truth file ${truthFile} has a header but no rows. Give it one row per galaxy.`);

  const predIndex = new Map(pred.ids.map((id, i) => [id, i]));
  const truthIds = new Set(truth.ids);
  // Data rows start at row 2 (the header is row 1).
  const missing = truth.ids.flatMap((id, i) => (predIndex.has(id) ? [] : [`GalaxyID ${id} (truth row ${i + 2})`]));
  const extra = pred.ids.flatMap((id, i) => (truthIds.has(id) ? [] : [`GalaxyID ${id} (row ${i + 2})`]));
  if (missing.length) {
    throw new UserError(
      `predictions file ${predictionsFile} has no row for ${missing.length} ${missing.length === 1 ? 'galaxy' : 'galaxies'} of truth file ${truthFile}: ${listSome(missing)}. ` +
        `Predict every galaxy of the truth file.`,
    );
  }
  if (extra.length) {
    throw new UserError(
      `predictions file ${predictionsFile} has ${extra.length} ${extra.length === 1 ? 'row' : 'rows'} whose GalaxyID is not in truth file ${truthFile}: ${listSome(extra)}. ` +
        `Remove them or evaluate against the matching truth file.`,
    );
  }

  const sums = new SquaredErrorSums();
  for (let i = 0; i < truth.ids.length; i++) sums.add([pred.rows[predIndex.get(truth.ids[i])!]], [truth.rows[i]]);
  const coverage = sums.coverage();
  if (coverage.knownCells === 0) {
    throw new UserError(`truth file ${truthFile} has no known answer: every answer cell is empty. Give the answers to score against.`);
  }
  const perQuestion = sums.perQuestion();
  return {
    predictionsFile,
    truthFile,
    galaxies: truth.ids.length,
    rmse: sums.rmse(),
    perQuestion: QUESTIONS.map((q, qi) => ({ question: q.number, text: q.text, answers: q.answers.length, rmse: perQuestion[qi] })),
    coverage,
  };
}

/** The report as a plain-text table. */
export function formatEvaluation(report: EvaluationReport): string {
  const lines = [
    `predictions: ${report.predictionsFile}`,
    `truth:       ${report.truthFile}`,
    `galaxies:    ${report.galaxies}`,
    `RMSE:        ${report.rmse.toFixed(5)}  (${scope(report.coverage)})`,
    '',
    'question                         answers  RMSE',
  ];
  for (const q of report.perQuestion) {
    const score = q.rmse === null ? '–  (no known answer)' : q.rmse.toFixed(5);
    lines.push(`${`Q${q.question}`.padEnd(4)} ${q.text.padEnd(28)} ${String(q.answers).padStart(7)}  ${score}`);
  }
  return lines.join('\n');
}

/** What the RMSE was taken over: every cell, or the known ones of a partial truth file. */
function scope(c: LabelCoverage): string {
  if (!c.partial) return `all ${NUM_COLUMNS} columns, as the challenge scores it`;
  const cells = `${c.knownCells.toLocaleString('en')} of ${c.cells.toLocaleString('en')} cells`;
  return `known cells only: ${coverageNote(c)}, ${cells}; the truth file leaves the rest empty`;
}
