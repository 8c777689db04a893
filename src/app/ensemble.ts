// `gzx ensemble`: which models (named, or the best trials of a sweep), which images and which
// answers (a solutions CSV, or the members' shared validation split), then src/galaxy/ensemble.ts.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { DataSource } from '../framework/contracts.js';
import { UserError } from '../base/errors.js';
import { pluginFactory } from './run.js';
import { serviceContext } from './services.js';
import { readSolutionsCsv } from '../galaxy/csv.js';
import { ensembleWeights, runEnsemble, type EnsembleReport } from '../galaxy/ensemble.js';
import { selectBackend, type BackendPreference } from '../runtime/backend.js';
import { listImages, type ImageFile, type TtaView } from '../galaxy/predict.js';
import { isSweepFolder, readSweepRecord, trialRows } from './sweep/folder.js';
import { resolveForRun } from './experiment.js';

export interface EnsembleRequest {
  models?: string[];
  fromSweep?: string;
  top?: number;
  weights?: number[];
  images?: string;
  truth?: string;
  out?: string;
  views: TtaView[];
  batchSize?: number;
  /** Loaded once the request is known to be sound, so a mistake is reported before TensorFlow starts. */
  backend?: BackendPreference;
  log?: (message: string) => void;
}

/** The K finished trials of a sweep with the lowest best valid RMSE, best first. */
export async function topTrials(sweepDir: string, k: number): Promise<{ dir: string; name: string; rmse: number }[]> {
  if (!isSweepFolder(sweepDir))
    throw new UserError(`--from-sweep ${sweepDir}: not a sweep folder (no sweep.yaml). Pass runs/<sweep-id> as \`gzx runs list\` shows it.`);
  const rows = (await trialRows(sweepDir, await readSweepRecord(sweepDir))).filter((r) => r.status === 'FINISHED' && r.best_valid_rmse !== null);
  rows.sort((a, b) => a.best_valid_rmse! - b.best_valid_rmse!);
  if (rows.length < k) {
    throw new UserError(
      `--from-sweep ${sweepDir}: ${rows.length} finished trial(s) with a valid_rmse, fewer than --top ${k}. Lower --top, or finish the sweep (run the same \`gzx sweep\` command again).`,
    );
  }
  return rows.slice(0, k).map((r) => ({ dir: path.join(sweepDir, r.run), name: r.name, rmse: r.best_valid_rmse! }));
}

/** The validation images and answers of a run, as its data plugin splits them. */
async function validationSplit(
  runDir: string,
  log: (m: string) => void,
): Promise<{ ids: string[]; files: ImageFile[]; truth: Map<string, ArrayLike<number>> }> {
  const { registry, resolved } = await resolveForRun({ resumeDir: runDir });
  const ctx = serviceContext({ tf, seed: resolved.config.seed, runDir, configDir: resolved.configDir, log }, { config: resolved.config });
  const data = await pluginFactory(registry, ctx)<DataSource>('data', resolved.config.data, 'data');
  const splits = await data.prepare();
  const labelled = splits.valid.filter((s) => s.labels);
  return {
    ids: labelled.map((s) => s.id).sort(),
    files: labelled.map((s) => ({ id: s.id, path: s.imagePath })),
    truth: new Map(labelled.map((s) => [s.id, s.labels!])),
  };
}

export async function ensemble(req: EnsembleRequest): Promise<EnsembleReport & { chosen?: { dir: string; name: string; rmse: number }[] }> {
  const log = req.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const members = [...(req.models ?? [])];
  let chosen: { dir: string; name: string; rmse: number }[] | undefined;
  if (req.fromSweep) {
    chosen = await topTrials(req.fromSweep, req.top ?? 3);
    members.push(...chosen.map((c) => c.dir));
  } else if (req.top !== undefined) {
    throw new UserError('--top picks trials of a sweep: use it with --from-sweep runs/<sweep-id>.', 2);
  }
  if (members.length >= 2) ensembleWeights(members.length, req.weights);
  if (chosen) log(`from sweep ${req.fromSweep}: ${chosen.map((c) => `${c.name} (valid_rmse ${c.rmse.toFixed(4)})`).join(', ')}`);
  if (req.truth && !req.images)
    throw new UserError("-t/--truth scores the images of -i/--images: give both (or neither, to score on the runs' shared validation split).", 2);

  await selectBackend(req.backend ?? 'auto', log);
  let files: ImageFile[];
  let truth: Map<string, ArrayLike<number>> | undefined;
  if (req.images) {
    files = await listImages(req.images);
    if (req.truth) {
      const table = await readSolutionsCsv(req.truth, { role: 'truth file' });
      truth = new Map(table.ids.map((id, i) => [id, table.rows[i]]));
      const known = files.filter((f) => truth!.has(f.id)).length;
      if (known === 0)
        throw new UserError(
          `-t ${req.truth} has answers for none of the ${files.length} images in ${req.images} (GalaxyIDs do not match). Give the solutions of those images.`,
        );
    } else if (!req.out) {
      throw new UserError("Nothing to do: give -o submission.csv to write the ensemble's predictions, and/or -t solutions.csv to score it.", 2);
    }
  } else {
    // The members' own validation split, when they share it.
    if (members.length < 2) throw new UserError(`An ensemble needs at least two models (got ${members.length}). Add -m runs/<id>.`);
    const splits: ({ m: string } & Awaited<ReturnType<typeof validationSplit>>)[] = [];
    for (const m of members) splits.push({ m, ...(await validationSplit(m, () => undefined)) });
    const differ = splits.find((s) => s.ids.join('\n') !== splits[0].ids.join('\n'));
    if (differ) {
      throw new UserError(
        `${splits[0].m} and ${differ.m} do not share a validation split (${splits[0].ids.length} and ${differ.ids.length} images, different galaxies), ` +
          'so neither is held out from both. Score on a common labelled set instead: -i <images> -t <solutions.csv>.',
      );
    }
    if (splits[0].ids.length === 0)
      throw new UserError(`${splits[0].m} has no labelled validation images. Score on a labelled set instead: -i <images> -t <solutions.csv>.`);
    files = splits[0].files;
    truth = splits[0].truth;
    log(`scoring on the validation split the ${members.length} runs share (${files.length} images)`);
  }
  const report = await runEnsemble({ members, weights: req.weights, files, views: req.views, batchSize: req.batchSize, out: req.out, truth, log });
  return { ...report, chosen };
}
