// The behaviours that hook into the Learner's events: dropout per phase, logging and progress,
// checkpoints, the NaN guard, Ctrl-C, fitting batches into the wasm heap and data-wait hints.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { Head, MetricPoint, RunLogger } from './contracts.js';
import { StopTraining, trainingImagesPerSec, type Callback, type Learner } from './learner.js';
import { fileCheckpointStore } from './checkpoint.js';
import type { CheckpointStore } from './services.js';
import { HEAP_HEADROOM, WASM_HEAP_BYTES, describePlan, imageTooLargeError, planMicroBatch } from '../runtime/memory-plan.js';
import { formatMetric } from '../base/format-metric.js';

/** fastai's "dropout changes in place": a phase's `dropout` is applied to the head when it starts. */
export function dropoutCallback(head: Head): Callback {
  return {
    name: 'dropout',
    beforePhase: (l) => {
      if (l.state.phase.dropout !== undefined) head.setDropout(l.model, l.state.phase.dropout);
    },
  };
}

/**
 * On the wasm backend, measures at the start of each phase what a training and a validation batch
 * need, and splits batches that would not fit the 4 GB heap into passes (gradients accumulated).
 * Other backends have no such hard limit and train whole batches.
 */
export function memoryPlanCallback(log: (message: string) => void, heapBytes = WASM_HEAP_BYTES): Callback {
  return {
    name: 'memory-plan',
    order: -5,
    beforePhase: async (l) => {
      l.passes.microBatch = null;
      l.passes.validMicroBatch = null;
      if (tf.getBackend() !== 'wasm') return;
      const { phase, phaseIndex } = l.state;
      const budget = heapBytes * HEAP_HEADROOM;
      // Not seen by a probe: the optimiser's two slots per weight (made at the first step) and the
      // running sum of gradients over passes.
      const reserve = 3 * l.trainableBytes();
      // Each measurement once: the error below reuses the plan's one-image figure.
      const measured = new Map<number, Promise<number>>();
      const probe = (n: number) => measured.get(n) ?? measured.set(n, l.measureTrainingBytes(n, phase.size)).get(n)!;
      const train = await planMicroBatch(phase.batch_size, probe, budget, reserve);
      if (!train) throw imageTooLargeError(`train.phases.${phaseIndex}`, phase.size, (await probe(1)) + reserve);
      const validBatch = l.validBatchSize;
      const valid = await planMicroBatch(validBatch, (n) => l.measureInferenceBytes(n, phase.size), budget, reserve);
      if (train.passes > 1) l.passes.microBatch = train.micro;
      if (valid && valid.passes > 1) l.passes.validMicroBatch = valid.micro;
      if (train.passes > 1 || (valid && valid.passes > 1)) {
        log(describePlan(train, phase.batch_size, phase.size, 'training'));
        if (valid && valid.passes > 1) log(describePlan(valid, validBatch, phase.size, 'validation'));
      }
    },
  };
}

/** Share of an epoch's training time spent waiting for images above which the run says so. */
export const DATA_WAIT_HINT_PCT = 20;

/** A cached epoch this much faster than the decoding one it follows is worth a word about `disk`. */
export const CACHE_SPEEDUP_HINT = 1.5;

/**
 * After an epoch in which training waited for the image pipeline a large share of the time, says
 * so once per phase with the settings that help (Lightning warns likewise about slow loaders).
 * Where decoding and training share few cores, decoding also slows the steps without any wait; an
 * in-memory cached epoch much faster than the decoding one shows that, and the run says so once.
 */
export function dataWaitCallback(
  log: (message: string) => void,
  train: { workers: number; cache_images: boolean | 'disk' },
  cores = os.availableParallelism(),
): Callback {
  let saidInPhase = -1;
  let decodingIps = 0;
  let saidCacheSpeedup = false;
  return {
    name: 'data-wait',
    order: 11, // after the epoch's line from the logging callback
    afterEpoch: (l) => {
      const s = l.state;
      const ips = trainingImagesPerSec(s);
      if (train.cache_images === true && !saidCacheSpeedup) {
        if (s.epochInPhase === 0) decodingIps = ips;
        else if (s.epochInPhase === 1 && ips >= CACHE_SPEEDUP_HINT * decodingIps) {
          saidCacheSpeedup = true;
          log(
            `epoch ${s.epochInPhase + 1} of phase ${s.phaseIndex + 1} read its images from the cache and trained at ${ips.toFixed(0)} img/s, ` +
              `against ${decodingIps.toFixed(0)} img/s while decoding JPEGs; train.cache_images=disk keeps the decoded images for later runs, which then start at that speed`,
          );
        }
      }
      const pct = s.metrics.data_wait_pct;
      if (!(pct >= DATA_WAIT_HINT_PCT) || saidInPhase === s.phaseIndex) return;
      saidInPhase = s.phaseIndex;
      const fixes: string[] = [];
      const firstEpoch = s.epochInPhase === 0;
      if (train.cache_images === false) {
        fixes.push('train.cache_images=true decodes each JPEG once per run (later epochs read decoded images); =disk also keeps them for later runs');
      } else if (firstEpoch && train.cache_images === true) {
        fixes.push('later epochs read the decoded images from the cache; train.cache_images=disk keeps them for later runs too');
      } else if (firstEpoch) {
        fixes.push('later epochs, and later runs at this size, read the decoded images from the disk cache');
      }
      if (train.workers < cores) fixes.push(`train.workers=${cores} decodes on every core (now ${train.workers})`);
      log(
        `the image pipeline held training back: ${pct.toFixed(0)}% of phase ${s.phaseIndex + 1} epoch ${s.epochInPhase + 1}'s training time ` +
          `was spent waiting for the next batch (${train.workers} decoding worker${train.workers === 1 ? '' : 's'}` +
          `${train.cache_images === false ? '' : `, cache ${train.cache_images === 'disk' ? 'on disk' : 'on'}`})` +
          (fixes.length ? `; ${fixes.join('; ')}` : '; the model trains faster than this machine can prepare images'),
      );
    },
  };
}

/** Stops on a NaN or infinite loss, naming where; the last good checkpoint stays. */
export function nanGuardCallback(): Callback {
  return {
    name: 'nan-guard',
    order: -10,
    afterBatch: (l) => {
      const s = l.state;
      if (!Number.isFinite(s.loss)) {
        throw new StopTraining(
          `the training loss became ${s.loss} in phase ${s.phaseIndex + 1} (${s.phase.name}), epoch ${s.epochInPhase + 1}, ` +
            `step ${s.batchInEpoch + 1} (global step ${s.step}). The last good checkpoint is kept. ` +
            `Lower the learning rate (train.phases.${s.phaseIndex}.lr) or check the data.`,
          'FAILED',
        );
      }
    },
  };
}

/** Ctrl-C (or any abort) ends the fit after the current batch; the run is recorded KILLED. */
export function stopSignalCallback(signal: AbortSignal): Callback {
  return {
    name: 'stop-signal',
    order: -20,
    afterBatch: () => {
      if (signal.aborted) throw new StopTraining('interrupted (Ctrl-C); the last checkpoint is kept.', 'KILLED');
    },
  };
}

/**
 * Writes a checkpoint after every epoch through `store` (the run's `checkpointStore` service; by
 * default an atomic folder). `metricsLines` tells how much of metrics.jsonl it covers.
 */
export function checkpointCallback(
  runDir: string,
  metricsLines: () => number | Promise<number>,
  store: CheckpointStore = fileCheckpointStore,
): Callback {
  return {
    name: 'checkpoint',
    order: 50,
    afterEpoch: async (l) => {
      const s = l.state;
      const lastOfPhase = s.epochInPhase + 1 >= s.phase.epochs;
      await store.write(runDir, l.model, l.optimizer, {
        phase: lastOfPhase ? s.phaseIndex + 1 : s.phaseIndex,
        epochInPhase: lastOfPhase ? 0 : s.epochInPhase + 1,
        step: s.step,
        epoch: s.epoch + 1,
        seed: l.seed,
        metricsLines: await metricsLines(),
      });
    },
  };
}

/** Sends step and epoch metrics, and progress, to every run logger. */
export function loggingCallback(loggers: RunLogger[]): Callback {
  let stepTimes: number[] = [];
  let lastBatchEnd = 0;
  // eslint-disable-next-line @typescript-eslint/await-thenable -- logMetrics may return void; Promise.all takes both
  const send = (points: MetricPoint[]) => Promise.all(loggers.map((lg) => lg.logMetrics(points)));
  return {
    name: 'logging',
    order: 10,
    beforeEpoch: () => {
      lastBatchEnd = Date.now();
    },
    afterBatch: async (l) => {
      const s = l.state;
      const now = Date.now();
      stepTimes.push((now - lastBatchEnd) / Math.max(1, s.batch?.n ?? 1));
      if (stepTimes.length > 50) stepTimes = stepTimes.slice(-50);
      lastBatchEnd = now;
      await send(
        [
          ['train_loss', s.loss],
          ['lr', s.lr],
          ['momentum', s.momentum],
        ].map(([key, value]) => ({ key: key as string, value: value as number, step: s.step, timestamp: now })),
      );
      const perImage = stepTimes.reduce((a, b) => a + b, 0) / stepTimes.length;
      const remaining = remainingImages(l);
      for (const lg of loggers) {
        lg.progress?.({
          phase: s.phaseIndex + 1,
          phases: l.phases.length,
          epoch: s.epochInPhase + 1,
          epochs: s.phase.epochs,
          step: s.batchInEpoch + 1,
          steps: s.batchesPerEpoch,
          loss: s.loss,
          imagesPerSec: perImage > 0 ? 1000 / perImage : 0,
          etaSec: (remaining * perImage) / 1000,
          size: s.phase.size,
        });
      }
    },
    afterEpoch: async (l) => {
      const s = l.state;
      const metrics: Record<string, number> = {
        ...s.metrics,
        train_loss_epoch: s.epochSamples ? s.epochLossSum / s.epochSamples : NaN,
        // Training throughput (validation excluded), comparable with `npm run bench`.
        images_per_sec: trainingImagesPerSec(s),
        epoch: s.epoch + 1,
        phase: s.phaseIndex + 1,
        size: s.phase.size,
      };
      const now = Date.now();
      await send(Object.entries(metrics).map(([key, value]) => ({ key, value, step: s.step, timestamp: now })));
      for (const lg of loggers) {
        lg.message?.(
          `phase ${s.phaseIndex + 1}/${l.phases.length} epoch ${s.epochInPhase + 1}/${s.phase.epochs} (size ${s.phase.size}): ` +
            Object.entries(metrics)
              .filter(([k]) => !/_q\d+$/.test(k) && !['epoch', 'phase', 'size'].includes(k))
              .map(([k, v]) => `${k} ${k.endsWith('_pct') ? v.toFixed(1) : formatMetric(v)}${l.metricNotes[k] ? ` (${l.metricNotes[k]})` : ''}`)
              .join('  '),
        );
      }
    },
  };
}

function remainingImages(l: Learner): number {
  const s = l.state;
  let batches = s.batchesPerEpoch - s.batchInEpoch - 1 + (s.phase.epochs - s.epochInPhase - 1) * s.batchesPerEpoch;
  let images = batches * s.phase.batch_size;
  for (const p of l.phases.slice(s.phaseIndex + 1)) {
    batches = p.epochs * l.data.trainBatchesPerEpoch(p.batch_size);
    images += batches * p.batch_size;
  }
  return images;
}
