// fastai's learning-rate range test: train with an exponentially growing rate, record the smoothed
// loss, stop when it diverges, suggest a rate ("valley") and plot loss against rate.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../runtime/backend.js';
import { Learner, StopTraining, type Callback } from '../framework/learner.js';
import { Optimizer } from '../framework/optimizers.js';
import type { ResolvedExperiment } from '../framework/config/load.js';
import { applyServicesHooks, serviceContext } from './services.js';
import { assembleSession, newRunDir, type RunOptions } from './run.js';
import { writeChart } from '../tracking/plot.js';
import { writeFileAtomic } from '../base/safe-write.js';

export interface LrFindOptions {
  startLr: number;
  endLr: number;
  numIt: number;
  /** Stop once the smoothed loss exceeds this multiple of the best one (fastai: 4). */
  divergeFactor: number;
}

export interface LrFindResult {
  runDir: string;
  lrs: number[];
  losses: number[];
  suggestion: number;
  plot: string;
}

export const LR_FIND_DEFAULTS: LrFindOptions = { startLr: 1e-7, endLr: 10, numIt: 100, divergeFactor: 4 };

export async function lrFind(
  resolved: ResolvedExperiment,
  opts: Pick<RunOptions, 'registry' | 'pluginModuleUrls' | 'log'>,
  o: LrFindOptions = LR_FIND_DEFAULTS,
): Promise<LrFindResult> {
  const { config } = resolved;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  await selectBackend(config.backend, log, config.threads);
  const runDir = await newRunDir({ ...config, name: `${config.name}-lr-find` });
  await fs.mkdir(path.join(runDir, 'artifacts'), { recursive: true });
  await writeFileAtomic(path.join(runDir, 'config.yaml'), resolved.yaml);
  const ctx = serviceContext({ tf, seed: config.seed, runDir, configDir: resolved.configDir, log }, { config });
  await applyServicesHooks(opts.registry, ctx);
  const session = await assembleSession(resolved, opts, ctx, [], true);
  const first = session.phases[0];
  const perEpoch = session.dataModule.trainBatchesPerEpoch(first.batch_size);
  const epochs = Math.ceil(o.numIt / perEpoch);
  const lrs: number[] = [];
  const losses: number[] = [];
  let avg = 0;
  let best = Infinity;
  const recorder: Callback = {
    name: 'lr-finder',
    beforeBatch: (l) => {
      // Exponential growth from startLr to endLr over numIt steps, whatever the epoch length.
      l.state.lr = o.startLr * Math.pow(o.endLr / o.startLr, Math.min(1, lrs.length / o.numIt));
    },
    afterBatch: (l) => {
      const i = lrs.length;
      avg = 0.98 * avg + 0.02 * l.state.loss;
      const smooth = avg / (1 - Math.pow(0.98, i + 1));
      lrs.push(l.state.lr);
      losses.push(smooth);
      if (smooth < best) best = smooth;
      if (!Number.isFinite(smooth) || smooth > o.divergeFactor * best || lrs.length >= o.numIt) {
        throw new StopTraining('range test done', 'FINISHED');
      }
    },
  };
  const learner = new Learner({
    model: session.model,
    data: session.dataModule,
    optimizer: new Optimizer(config.train.optimizer),
    phases: [{ ...first, epochs, freeze: 'none', lr: o.endLr, schedule: { at: () => ({ lr: o.startLr }) } }],
    layerGroups: session.layerGroups,
    accumulate: 1,
    validBatchSize: config.train.valid_batch_size,
    seed: config.seed,
    loss: session.head.loss,
    callbacks: [recorder],
  });
  try {
    await learner.fit();
  } catch (e) {
    if (!(e instanceof StopTraining)) throw e;
  } finally {
    await session.dataModule.close();
    session.model.dispose();
  }
  // Skip the first and last few points as fastai's plot does: they are noise and divergence.
  const keep = (a: number[]) => a.slice(Math.min(10, Math.floor(a.length / 10)), Math.max(1, a.length - 5));
  const shownLrs = keep(lrs);
  const shownLosses = keep(losses);
  const suggestion = valley(shownLrs, shownLosses);
  const plot = path.join(runDir, 'artifacts', 'lr-find.png');
  const points = shownLrs.map((lr, i) => [lr, shownLosses[i]] as [number, number]);
  await writeChart(
    plot,
    [{ title: 'smoothed training loss against learning rate', yLabel: 'loss', series: [{ name: 'smoothed training loss', points }] }],
    {
      title: `LR finder: ${config.name}`,
      xLabel: 'learning rate (log scale)',
      logX: true,
      marker: { x: suggestion, label: `suggested ${suggestion.toExponential(2)}` },
    },
  );
  await writeFileAtomic(path.join(runDir, 'artifacts', 'lr-find.json'), JSON.stringify({ suggestion, lrs, losses, options: o }, null, 2));
  return { runDir, lrs, losses, suggestion, plot };
}

/**
 * fastai's "valley" suggestion: the longest run of decreasing loss, then a point two thirds of
 * the way down it (a rate still on the steep, stable slope).
 */
export function valley(lrs: number[], losses: number[]): number {
  const n = losses.length;
  if (n === 0) return NaN;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0;
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = maxStart + Math.floor(sections) + Math.floor(sections / 2);
  return lrs[Math.min(Math.max(idx, 0), n - 1)];
}
