// Scores a predictions CSV against a truth CSV the way the challenge does, matching rows by GalaxyID.
import { UserError } from '../core/errors.js';
import { readSolutionsCsv } from './csv.js';
import { SquaredErrorSums } from './metrics.js';
import { QUESTIONS } from './tree.js';

export interface QuestionScore {
  question: number;
  text: string;
  answers: number;
  rmse: number;
}

export interface EvaluationReport {
  predictionsFile: string;
  truthFile: string;
  galaxies: number;
  rmse: number;
  perQuestion: QuestionScore[];
}

const EXAMPLES = 5;

function listSome(items: string[]): string {
  const shown = items.slice(0, EXAMPLES).join('; ');
  return items.length > EXAMPLES ? `${shown}; and ${items.length - EXAMPLES} more` : shown;
}

export async function evaluateFiles(predictionsFile: string, truthFile: string): Promise<EvaluationReport> {
  // Predictions only need to be numbers (a model without the normalisation layer may leave [0, 1]).
  const pred = await readSolutionsCsv(predictionsFile, { unitRange: false, role: 'predictions file' });
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
  const perQuestion = sums.perQuestion();
  return {
    predictionsFile,
    truthFile,
    galaxies: truth.ids.length,
    rmse: sums.rmse(),
    perQuestion: QUESTIONS.map((q, qi) => ({ question: q.number, text: q.text, answers: q.answers.length, rmse: perQuestion[qi] })),
  };
}

/** The report as a plain-text table. */
export function formatEvaluation(report: EvaluationReport): string {
  const lines = [
    `predictions: ${report.predictionsFile}`,
    `truth:       ${report.truthFile}`,
    `galaxies:    ${report.galaxies}`,
    `RMSE:        ${report.rmse.toFixed(5)}  (all 37 columns, as the challenge scores it)`,
    '',
    'question                         answers  RMSE',
  ];
  for (const q of report.perQuestion) {
    lines.push(`${`Q${q.question}`.padEnd(4)} ${q.text.padEnd(28)} ${String(q.answers).padStart(7)}  ${q.rmse.toFixed(5)}`);
  }
  return lines.join('\n');
}
