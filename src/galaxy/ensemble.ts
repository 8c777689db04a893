// An ensemble of trained models: each member's (test-time-augmented) predictions, weighted and
// averaged, then renormalised to obey the decision tree; scored per member and as a whole when the
// true answers are known. Members may differ in crop and input size: each image is decoded for each.
import { UserError } from '../base/errors.js';
import type { RawImage } from '../framework/contracts.js';
import { openSolutionsWriter } from './csv.js';
import { rmse } from './metrics.js';
import { decodeForModel, loadPredictor, predictImages, type ImageFile, type LoadedPredictor, type TtaView } from './predict.js';
import { NUM_COLUMNS, normaliseRows } from './tree.js';

export interface EnsembleInput {
  /** Run folders (or model folders) of the members. */
  members: string[];
  /** One per member (default equal); scaled to sum 1. */
  weights?: number[];
  files: ImageFile[];
  views: TtaView[];
  batchSize?: number;
  /** Submission CSV to write (optional when only scoring). */
  out?: string;
  /** True answers by GalaxyID: each member and the ensemble are scored on the images that have them. */
  truth?: Map<string, ArrayLike<number>>;
  log?: (message: string) => void;
}

export interface EnsembleReport {
  members: { model: string; weight: number; rmse: number | null }[];
  rmse: number | null;
  /** Mean of the members' RMSEs, the number an ensemble should beat. */
  meanMemberRmse: number | null;
  images: number;
  scored: number;
  views: number;
  out: string | null;
  seconds: number;
}

/** Weights as given (positive, one per member) scaled to sum 1, or equal weights. */
export function ensembleWeights(members: number, weights?: number[]): number[] {
  if (!weights) return Array.from({ length: members }, () => 1 / members);
  if (weights.length !== members) {
    throw new UserError(`--weights has ${weights.length} value(s) for ${members} model(s). Give one weight per -m, in the same order.`);
  }
  if (weights.some((w) => !(w >= 0 && Number.isFinite(w))) || weights.every((w) => w === 0)) {
    throw new UserError(`--weights ${weights.join(',')}: weights must be non-negative numbers, not all zero.`);
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
}

/** Parses `--weights 2,1,1`. */
export function parseWeights(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isFinite(out[i]));
  if (bad >= 0) throw new UserError(`--weights ${text}: "${parts[bad]}" is not a number. Write e.g. --weights 2,1,1.`);
  return out;
}

export async function runEnsemble(input: EnsembleInput): Promise<EnsembleReport> {
  const log = input.log ?? (() => undefined);
  if (input.members.length < 2)
    throw new UserError(
      `An ensemble needs at least two models (got ${input.members.length}). Add -m runs/<id>, or --from-sweep with --top 2 or more.`,
    );
  const weights = ensembleWeights(input.members.length, input.weights);
  const batchSize = input.batchSize ?? 32;
  const started = Date.now();
  const predictors: LoadedPredictor[] = [];
  try {
    for (const m of input.members) predictors.push(await loadPredictor(m));
    log(
      `ensemble of ${predictors.length} models (${predictors.map((p, i) => `${input.members[i]}: crop ${p.crop ?? 'none'}, size ${p.size}, weight ${weights[i].toFixed(3)}`).join('; ')}), ` +
        `${input.views.length} view(s), ${input.files.length} images`,
    );
    const writer = input.out ? await openSolutionsWriter(input.out) : null;
    const scored: { member: Float32Array[][]; ensemble: Float32Array[]; truth: ArrayLike<number>[] } = {
      member: predictors.map(() => []),
      ensemble: [],
      truth: [],
    };
    try {
      for (let b = 0; b < input.files.length; b += batchSize) {
        const files = input.files.slice(b, b + batchSize);
        const sum = new Float64Array(files.length * NUM_COLUMNS);
        const decoded = new Map<string, RawImage[]>();
        const perMember: Float32Array[][] = [];
        for (const [m, p] of predictors.entries()) {
          const key = `${p.crop}:${p.size}`;
          if (!decoded.has(key)) decoded.set(key, await Promise.all(files.map((f) => decodeForModel(f.path, p.crop, p.size))));
          const rows = predictImages(p, decoded.get(key)!, input.views);
          perMember.push(rows);
          rows.forEach((row, i) => row.forEach((v, c) => (sum[i * NUM_COLUMNS + c] += weights[m] * v)));
        }
        // A weighted mean of tree-obeying rows is close to but not exactly tree-obeying: renormalise.
        const normalised = new Float32Array(sum.length);
        normaliseRows(sum, normalised);
        for (let i = 0; i < files.length; i++) {
          const row = normalised.subarray(i * NUM_COLUMNS, (i + 1) * NUM_COLUMNS);
          await writer?.write(files[i].id, row);
          const truth = input.truth?.get(files[i].id);
          if (truth) {
            scored.truth.push(truth);
            scored.ensemble.push(row.slice());
            perMember.forEach((rows, m) => scored.member[m].push(rows[i]));
          }
        }
      }
      await writer?.close();
    } catch (e) {
      await writer?.abort();
      throw e;
    }
    const n = scored.truth.length;
    const members = predictors.map((_, m) => ({
      model: input.members[m],
      weight: weights[m],
      rmse: n ? rmse(scored.member[m], scored.truth) : null,
    }));
    const memberRmses = members.map((m) => m.rmse).filter((r): r is number => r !== null);
    return {
      members,
      rmse: n ? rmse(scored.ensemble, scored.truth) : null,
      meanMemberRmse: memberRmses.length ? memberRmses.reduce((a, b) => a + b, 0) / memberRmses.length : null,
      images: input.files.length,
      scored: n,
      views: input.views.length,
      out: input.out ?? null,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    for (const p of predictors) {
      p.passes?.dispose();
      p.model.dispose();
    }
  }
}

export function formatEnsembleReport(r: EnsembleReport): string {
  const lines: string[] = [];
  if (r.scored > 0) {
    const width = Math.max(...r.members.map((m) => m.model.length), 'ensemble'.length);
    for (const m of r.members) lines.push(`${m.model.padEnd(width)}  weight ${m.weight.toFixed(3)}  RMSE ${m.rmse!.toFixed(4)}`);
    const gain = 100 * (1 - r.rmse! / r.meanMemberRmse!);
    lines.push(
      `${'ensemble'.padEnd(width)}                RMSE ${r.rmse!.toFixed(4)}   (members' mean ${r.meanMemberRmse!.toFixed(4)}; ${gain >= 0 ? `${gain.toFixed(1)}% lower` : `${(-gain).toFixed(1)}% higher`})`,
    );
    lines.push(`scored on ${r.scored} of ${r.images} images with known answers`);
  }
  if (r.out) lines.push(`wrote ${r.out}: ${r.images} rows (${r.views} view${r.views === 1 ? '' : 's'} per model) in ${r.seconds.toFixed(1)} s`);
  return lines.join('\n');
}
