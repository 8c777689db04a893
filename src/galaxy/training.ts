// What a Galaxy Zoo run adds to the generic training loop: the challenge's metrics every epoch,
// and pictures at the end (training curves, a grid of predictions).
import path from 'node:path';
import type { DataSplits, RunLogger } from '../framework/contracts.js';
import { readMetrics } from '../tracking/runs/folder.js';
import type { Callback, LearnerState } from '../framework/learner.js';
import { decodeImage } from '../vision/pipeline/index.js';
import { resultsGrid, type GridCell } from './show.js';
import type { RunHooks } from '../framework/run-hooks.js';
import { writeChart } from '../tracking/plot.js';
import { baselineRmse, coverageNote, labelCoverage, perQuestionRmseRecord, rmse, type LabelCoverage } from './metrics.js';
import { UserError } from '../base/errors.js';
import { writeFileAtomic } from '../base/safe-write.js';

/**
 * valid_rmse, valid_rmse_q1…q11 and the column-mean baseline, computed on the validation split.
 * With partial labels (unknown cells) each is taken over known cells only: the run says so once,
 * every printed valid_rmse/baseline_rmse carries "(N of 37 columns known)", loggers get a
 * `gzx.labels` tag, and a question with no known cell gets no valid_rmse_q metric at all.
 */
export function galaxyMetricsCallback(splits: DataSplits, loggers: RunLogger[] = [], log: (message: string) => void = () => undefined): Callback {
  const trainRows = splits.train.map((s) => s.labels!).filter(Boolean);
  const validRows = splits.valid.map((s) => s.labels!).filter(Boolean);
  const coverage = labelCoverage([...trainRows, ...validRows]);
  if (validRows.length > 0 && labelCoverage(validRows).knownCells === 0) {
    throw new UserError(
      `data: none of the ${validRows.length} validation galaxies has a known answer (every label cell is empty), so nothing can be scored. ` +
        `Choose validation galaxies with labels.`,
    );
  }
  // No validation rows (valid_fraction 0): nothing to score, and no baseline to compare with.
  const baseline = validRows.length > 0 ? baselineRmse(trainRows, validRows) : NaN;
  const note = coverageNote(labelCoverage(validRows));
  return {
    name: 'galaxy-metrics',
    beforeFit: async (l) => {
      if (!coverage.partial) return;
      const text = describeCoverage(coverage);
      log(`labels: ${text}`);
      for (const lg of loggers) await lg.setTags?.({ 'gzx.labels': text });
      if (note) for (const key of ['valid_rmse', 'baseline_rmse']) l.metricNotes[key] = note;
    },
    afterValidate: (l) => {
      const { validPredictions: pred, validTruth: truth } = l.state;
      if (truth.length === 0) return;
      l.state.metrics.valid_rmse = rmse(pred, truth);
      for (const [q, v] of Object.entries(perQuestionRmseRecord(pred, truth))) l.state.metrics[`valid_rmse_${q}`] = v;
      l.state.metrics.baseline_rmse = baseline;
    },
  };
}

/** "17 of 37 columns known (Q3, Q4, … unknown); 19,000 of 37,000 cells empty; loss and RMSEs over known cells only". */
export function describeCoverage(c: LabelCoverage): string {
  const unknownQ = c.unknownQuestions.length > 0 ? ` (no answer known for ${c.unknownQuestions.map((q) => `Q${q}`).join(', ')})` : '';
  const empty = c.cells - c.knownCells;
  return (
    `${coverageNote(c)}${unknownQ}; ${empty.toLocaleString('en')} of ${c.cells.toLocaleString('en')} cells empty (unknown). ` +
    `The loss, valid_rmse, baseline_rmse and per-question RMSEs use known cells only.`
  );
}

/** Training loss per step and validation RMSE per epoch, against the baseline. */
export async function writeCurves(runDir: string, file: string): Promise<void> {
  const points = await readMetrics(path.join(runDir, 'metrics.jsonl'));
  const series = (key: string) => points.filter((p) => p.key === key).map((p) => [p.step, p.value] as [number, number]);
  const loss = series('train_loss');
  const smoothed: [number, number][] = [];
  let avg = 0;
  loss.forEach(([x, y], i) => {
    avg = 0.9 * avg + 0.1 * y;
    smoothed.push([x, avg / (1 - Math.pow(0.9, i + 1))]);
  });
  await writeChart(
    file,
    [
      { title: 'training loss', yLabel: 'MSE (smoothed)', series: [{ name: 'train loss (MSE, smoothed)', points: smoothed }] },
      {
        title: 'validation',
        yLabel: 'RMSE',
        series: [
          { name: 'valid RMSE', points: series('valid_rmse') },
          { name: 'column-mean baseline', points: series('baseline_rmse'), dashed: true },
        ],
      },
    ],
    { title: 'training curves', xLabel: 'step' },
  );
}

/** fastai's show_results for the run: the first validation galaxies with true and predicted answers; false when there are none. */
export async function writePredictionGrid(file: string, splits: DataSplits, state: LearnerState, count = 16): Promise<boolean> {
  const byId = new Map(splits.valid.map((s) => [s.id, s]));
  const cells: GridCell[] = [];
  for (let i = 0; i < state.validIds.length && cells.length < count; i++) {
    const sample = byId.get(state.validIds[i]);
    if (!sample) continue;
    const image = await decodeImage(sample.imagePath, { crop: splits.crop, size: 160 });
    cells.push({ id: sample.id, image, predicted: state.validPredictions[i], truth: sample.labels });
  }
  if (cells.length === 0) return false;
  await writeFileAtomic(file, await resultsGrid(cells, { cellSize: 160 }));
  return true;
}

export const galaxyRunHooks: RunHooks = {
  callbacks: (splits, loggers, log) => [galaxyMetricsCallback(splits, loggers, log)],
  afterFit: async (ctx, learner) => {
    const curves = path.join('artifacts', 'curves.png');
    const grid = path.join('artifacts', 'predictions.png');
    await writeCurves(ctx.runDir, path.join(ctx.runDir, curves));
    // Resumed after its last epoch (e.g. the disk filled while the pictures were written): no predictions in memory.
    if (!learner.state) return [curves];
    const wroteGrid = await writePredictionGrid(path.join(ctx.runDir, grid), ctx.splits, learner.state);
    return wroteGrid ? [curves, grid] : [curves];
  },
};
