// Runs one resolved experiment: backend, run folder, the run's service container (defaults, then the
// plugin modules' `services` hooks), plugins with the services they declare, model, learner, and the
// run record. Knows no particular plugin: the caller passes the registry and any domain callbacks.
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { Augmentation, Backbone, DataSource, DataSplits, Head, RunInfo, RunLogger, RunStatus, Schedule } from '../framework/contracts.js';
import type { CacheImagesSetting, ExperimentConfig, PluginRef } from '../framework/experiment-config.js';
import type { PluginContext, PluginKind } from '../framework/plugin.js';
import type { PluginRegistry } from '../framework/registry.js';
import type { ResolvedExperiment } from '../framework/config/load.js';
import { selectBackend, type BackendReport } from '../runtime/backend.js';
import { Optimizer } from '../framework/optimizers.js';
import { Learner, StopTraining, type Callback, type Phase } from '../framework/learner.js';
import type { RunContext, RunHooks } from '../framework/run-hooks.js';
import { ImageDataModule } from '../vision/image-data-module.js';
import { diskCacheDir } from '../vision/pipeline/cache.js';
import { autoCachePlan, imageWorkerCount, SKIPPED_IMAGES_FILE } from '../vision/pipeline/index.js';
import {
  checkpointCallback,
  dataWaitCallback,
  dropoutCallback,
  loggingCallback,
  memoryPlanCallback,
  nanGuardCallback,
  stopSignalCallback,
} from '../framework/callbacks.js';
import { SERVICES, createPlugin, newServiceContainer, registerContextServices } from '../framework/services.js';
import { applyServicesHooks, resolveCheckpointStore, resolveImageDecoder, serviceContext } from './services.js';
import { saveModel } from '../framework/model-io.js';
import { withSeededRandom } from '../runtime/math-random-scope.js';
import { UserError } from '../base/errors.js';
import { flattenParams } from '../framework/params.js';
import { GZX_VERSION } from '../base/version.js';
import { WriteError, writeError, writeFileAtomic } from '../base/safe-write.js';

export type { RunContext, RunHooks } from '../framework/run-hooks.js';

export interface RunOptions {
  registry: PluginRegistry;
  /** Module URLs exporting plugin lists, for image-pipeline workers (built-ins + the config's `plugins`). */
  pluginModuleUrls: string[];
  hooks?: RunHooks;
  /** An existing run folder to continue from its last checkpoint. */
  resumeDir?: string;
  /** The run folder to create, instead of a new one under output_dir (a sweep trial's). */
  runDir?: string;
  /** Tags known before the run starts (e.g. the source's git commit), kept in meta.json. */
  tags?: Record<string, string>;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export interface RunResult {
  runId: string;
  runDir: string;
  status: RunStatus;
  summary: Record<string, unknown>;
}

export async function runExperiment(resolved: ResolvedExperiment, opts: RunOptions): Promise<RunResult> {
  const { config } = resolved;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const started = Date.now();
  const backend = await selectBackend(config.backend, log, config.threads);

  const runDir = opts.resumeDir ? path.resolve(opts.resumeDir) : opts.runDir ? path.resolve(opts.runDir) : await newRunDir(config);
  const runId = path.basename(runDir);
  await fs.mkdir(path.join(runDir, 'artifacts'), { recursive: true });
  // The run's services: defaults first, then the plugin modules' hooks, which may replace them.
  const ctx = serviceContext({ tf, seed: config.seed, runDir, configDir: resolved.configDir, log }, { config, backend });
  try {
    await applyServicesHooks(opts.registry, ctx);
  } catch (e) {
    if (!opts.resumeDir && !existsSync(path.join(runDir, 'meta.json'))) await fs.rm(runDir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  const checkpoints = resolveCheckpointStore(ctx.container);
  const decoderReplaced = resolveImageDecoder(ctx.container).replaced;
  const checkpoint = opts.resumeDir ? await checkpoints.read(runDir) : null;
  if (opts.resumeDir && !checkpoint) {
    log(`${runDir}: no checkpoint yet; starting this run from the beginning.`);
  }
  await truncateMetrics(runDir, checkpoint?.metricsLines ?? 0);

  const create = pluginFactory(opts.registry, ctx);

  const info: RunInfo = {
    runId,
    runName: config.name,
    runDir,
    config: config as unknown as Record<string, unknown>,
    params: resolvedParams(config, backend, decoderReplaced),
    description: config.description,
    configPath: resolved.configPath,
    configHash: resolved.hash,
    tags: {
      ...opts.tags,
      'gzx.version': GZX_VERSION,
      'gzx.backend': backend.name,
      'gzx.config_hash': resolved.hash,
      'gzx.run_id': runId,
    },
    startTime: started,
  };
  ctx.container.register(SERVICES.runInfo, { useValue: info });

  // Filled in place: complete once the logger plugins are made.
  const loggers: RunLogger[] = [];
  ctx.container.register(SERVICES.loggers, { useValue: loggers });
  for (const [i, ref] of config.logger.entries()) loggers.push(await create<RunLogger>('logger', ref, `logger[${i}]`));
  let status: RunStatus = 'FAILED';
  let error: string | undefined;
  let failure: unknown;
  let closeFailure: WriteError | undefined;
  let summary: Record<string, unknown> = {};
  let dataSummary: Record<string, unknown> | undefined;
  let dataModule: ImageDataModule | undefined;
  // Only loggers that started are ended; a write that fails here (a full disk) still ends as FAILED.
  const startedLoggers: RunLogger[] = [];
  try {
    for (const lg of loggers) {
      await lg.start(info);
      startedLoggers.push(lg);
    }
    await writeFileAtomic(path.join(runDir, 'config.yaml'), resolved.yaml);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    failure = e;
    await finish();
    // A new run that could not even record its start (a full disk) leaves no folder behind.
    if (!opts.resumeDir && !existsSync(path.join(runDir, 'meta.json'))) await fs.rm(runDir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  try {
    const session = await assembleSession(resolved, opts, ctx, loggers, !checkpoint);
    const { splits, head, model, layerGroups, phases } = session;
    dataModule = session.dataModule;
    dataSummary = {
      fingerprint: splits.fingerprint,
      train: splits.train.length,
      valid: splits.valid.length,
      crop: splits.crop,
      ...splits.split?.details,
    };
    for (const lg of loggers) await lg.logParams?.({ 'train.cache_images': String(session.cacheImages) });
    const optimizer = new Optimizer(config.train.optimizer);
    let metricPoints = checkpoint?.metricsLines ?? 0;
    const counter: RunLogger = {
      start: () => undefined,
      end: () => undefined,
      logMetrics: (points) => {
        metricPoints += points.length;
      },
    };
    const learner = new Learner({
      model,
      data: dataModule,
      optimizer,
      phases,
      layerGroups,
      accumulate: config.train.accumulate,
      validBatchSize: config.train.valid_batch_size,
      seed: config.seed,
      compile: config.train.compile,
      loss: head.loss,
      log,
      callbacks: [
        ...(opts.signal ? [stopSignalCallback(opts.signal)] : []),
        nanGuardCallback(),
        dropoutCallback(head),
        memoryPlanCallback(log),
        dataWaitCallback(log, { workers: session.workers, cache_images: session.cacheImages }),
        ...(opts.hooks?.callbacks?.(splits, loggers, log) ?? []),
        ...session.callbacks,
        loggingCallback([...loggers, counter]),
        checkpointCallback(runDir, () => metricPoints, checkpoints),
      ],
    });
    if (checkpoint) {
      await checkpoints.restore(runDir, model, optimizer, learner.variables);
      log(`resuming ${runId} at phase ${checkpoint.phase + 1}, epoch ${checkpoint.epochInPhase + 1} (step ${checkpoint.step})`);
    }
    const start = checkpoint
      ? { phase: checkpoint.phase, epochInPhase: checkpoint.epochInPhase, step: checkpoint.step }
      : { phase: 0, epochInPhase: 0, step: 0 };
    // Ctrl-C is the caller's: it aborts `opts.signal` (the CLI does), and the fit stops after the batch.
    if (start.phase < phases.length) await learner.fit(start);
    if (learner.stopReason) log(`stopped early: ${learner.stopReason}`);

    await saveModel(model, path.join(runDir, 'model'));
    const artifacts = ['config.yaml', 'model'];
    const ctxForHooks: RunContext = { runDir, config, model, splits, head, loggers, backend, tfRef: tf };
    artifacts.push(...((await opts.hooks?.afterFit?.(ctxForHooks, learner)) ?? []));
    for (const a of artifacts) for (const lg of loggers) await lg.logArtifact?.(a);
    status = 'FINISHED';
    const notes = Object.keys(learner.metricNotes).length > 0 ? { metric_notes: { ...learner.metricNotes } } : {};
    const stopped = learner.stopReason ? { stopped_early: learner.stopReason } : {};
    summary = { final: learner.state?.metrics ?? {}, ...notes, ...stopped, skipped_images: dataModule.skipped().length };
    model.dispose();
    optimizer.dispose();
  } catch (e) {
    if (e instanceof StopTraining) {
      status = e.status;
      error = e.message;
    } else {
      status = 'FAILED';
      error = e instanceof Error ? e.message : String(e);
      failure = e;
      await finish();
      throw e;
    }
  } finally {
    await dataModule?.close();
  }
  await finish();
  if (closeFailure) throw closeFailure;
  if (error && status !== 'FINISHED') log(`run ${status.toLowerCase()}: ${error}`);
  return { runId, runDir, status, summary };

  async function finish(): Promise<void> {
    const skipped = dataModule?.skipped() ?? [];
    if (skipped.length > 0) {
      try {
        await writeSkippedImages(runDir, skipped);
      } catch (err) {
        log(`could not list the skipped images: ${(err as Error).message}`);
      }
    }
    summary = {
      ...summary,
      run_id: runId,
      status,
      ...(error ? { error } : {}),
      ...(dataSummary ? { data: dataSummary } : {}),
      backend: { name: backend.name, package: backend.package, version: backend.version, threads: backend.threads },
      versions: { gzx: GZX_VERSION, tfjs: tf.version.tfjs, node: process.version },
      host: { cpus: os.cpus().length, platform: `${os.platform()}-${os.arch()}` },
      wall_time_sec: (Date.now() - started) / 1000,
    };
    for (const lg of startedLoggers) {
      try {
        await lg.end(status, summary);
      } catch (err) {
        // A full disk that failed the run usually fails its last record too: said once, by the run's error.
        if (err instanceof WriteError && !failure) {
          // The run itself went well but its record could not be written: that fails it, in one line.
          status = 'FAILED';
          closeFailure ??= err;
        } else if (!(failure instanceof WriteError && err instanceof WriteError && err.code === failure.code)) {
          log(`could not record the end of the run: ${(err as Error).message}`);
        }
      }
    }
  }
}

export interface Session {
  splits: DataSplits;
  head: Head;
  model: tf.LayersModel;
  layerGroups: string[][];
  phases: Phase[];
  dataModule: ImageDataModule;
  /** Image worker threads, `train.workers` resolved. */
  workers: number;
  /** `train.cache_images` resolved. */
  cacheImages: boolean | 'disk';
  /** The config's `callbacks:` plugins. */
  callbacks: Callback[];
}

/** Plugins, data, model and phases of an experiment: what `run` and `lr-find` both train. */
export async function assembleSession(
  resolved: ResolvedExperiment,
  opts: Pick<RunOptions, 'registry' | 'pluginModuleUrls'>,
  ctx: PluginContext,
  loggers: RunLogger[],
  loadPretrained: boolean,
): Promise<Session> {
  const { config } = resolved;
  const log = ctx.log;
  const create = pluginFactory(opts.registry, ctx);
  const data = await create<DataSource>('data', config.data, 'data');
  // Augmentations are built here once to validate them early; workers build their own copies, with
  // only the services a worker has (seed, folders, log, rng), so they get the same ones here.
  const workerServices = newServiceContainer();
  registerContextServices(workerServices, ctx);
  const createAugment = pluginFactory(opts.registry, { ...ctx, container: workerServices });
  for (const [i, ref] of config.augment.entries()) await createAugment<Augmentation>('augment', ref, `augment[${i}]`);
  const backbone = await create<Backbone>('backbone', config.backbone, 'backbone');
  const head = await create<Head>('head', config.head, 'head');
  const phases: Phase[] = [];
  for (const [i, p] of config.train.phases.entries()) {
    const schedule = await create<Schedule>('schedule', p.schedule ?? config.schedule, `train.phases.${i}.schedule`);
    phases.push({
      name: p.name ?? `phase ${i + 1}`,
      epochs: p.epochs,
      size: p.size ?? config.train.size,
      freeze: p.freeze,
      lr: p.lr ?? config.train.lr,
      dropout: p.dropout,
      batch_size: p.batch_size ?? config.train.batch_size,
      schedule,
    });
  }

  log(`data: ${data.describe()}`);
  const splits = await data.prepare();
  ctx.container.register(SERVICES.dataSplits, { useValue: splits });
  if (splits.train.length === 0) {
    throw new UserError(
      `data: the split has no training images (and ${splits.valid.length} validation images). ` +
        `Use more images, or hold fewer out for validation (data.with.valid_fraction or data.with.valid).`,
    );
  }
  // Said once: a run without validation images trains all the same, without validation metrics.
  const noValid = splits.valid.length === 0 ? '; no validation set: no validation metrics' : '';
  log(`data: ${splits.split?.text ?? `${splits.train.length} training and ${splits.valid.length} validation images${noValid}`}`);
  for (const lg of loggers) await lg.setTags?.({ 'gzx.data_fingerprint': splits.fingerprint });

  const { model, layerGroups } = withSeededRandom(config.seed, () => {
    const built = backbone.build(tf);
    const outputs = head.build(tf, built.features);
    return { model: tf.model({ inputs: built.inputs, outputs, name: 'gzx' }), layerGroups: built.layerGroups };
  });
  if (backbone.loadPretrained && loadPretrained) await backbone.loadPretrained(model, log);
  log(`model: ${config.backbone.use} + ${config.head.use}, ${model.countParams().toLocaleString('en')} parameters`);

  // A decoder a plugin module put in place of gzx's own cannot be sent to worker threads: it runs here.
  const { decoder, replaced: decoderReplaced } = resolveImageDecoder(ctx.container);
  const workers = imageWorkers(config, decoderReplaced);
  const workersWhy = decoderReplaced
    ? ' (a plugin module replaced the imageDecoder service; worker threads only run the built-in one)'
    : config.train.workers === 'auto'
      ? ' (train.workers: auto, one per core)'
      : '';
  log(`images: decoded in ${workers === 0 ? 'the main thread' : `${workers} worker thread${workers === 1 ? '' : 's'}`}${workersWhy}`);
  const cacheImages = imageCacheSetting(config.train.cache_images, splits.train.length + splits.valid.length, phases, log);
  const dataModule = new ImageDataModule(splits, config.augment, config.seed, config.train.max_steps_per_epoch, {
    workers,
    cacheImages: cacheImages !== false,
    cacheDir: cacheImages === 'disk' ? diskCacheDir(config.train.cache_dir, resolved.configDir) : null,
    pluginModules: opts.pluginModuleUrls,
    configDir: resolved.configDir,
    log,
    decoder: decoderReplaced ? decoder : null,
  });
  ctx.container.register(SERVICES.dataModule, { useValue: dataModule });
  // Made last, so callback plugins may declare the data split and the data module.
  const callbacks: Callback[] = [];
  for (const [i, ref] of config.callbacks.entries()) callbacks.push(await create<Callback>('callback', ref, `callbacks[${i}]`));
  return { splits, head, model, layerGroups, phases, dataModule, workers, cacheImages, callbacks };
}

/** `train.cache_images` resolved (`auto` decided by memory), and said in the log. */
function imageCacheSetting(setting: CacheImagesSetting, images: number, phases: Phase[], log: (message: string) => void): boolean | 'disk' {
  if (setting !== 'auto') {
    if (setting !== false)
      log(`images: kept ${setting === 'disk' ? 'in memory and on disk' : 'in memory'} once decoded (train.cache_images: ${setting})`);
    return setting;
  }
  const plan = autoCachePlan(
    images,
    phases.map((p) => p.size),
  );
  const what = `${formatBytes(plan.bytes)} for ${images.toLocaleString('en')} images at ${plan.sizes.join(' and ')} px`;
  log(
    plan.cache
      ? `images: kept in memory once decoded (train.cache_images: auto; ${what}, within a quarter of ${formatBytes(plan.memory)})`
      : `images: decoded again every epoch (train.cache_images: auto; ${what} is more than a quarter of ${formatBytes(plan.memory)}; ` +
          `true, or disk, keeps them in memory anyway)`,
  );
  return plan.cache;
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.max(1, Math.round(bytes / 2 ** 20))} MiB`;
}

export function pluginFactory(registry: PluginRegistry, ctx: PluginContext) {
  return async <T>(kind: PluginKind, ref: PluginRef, where: string): Promise<T> => {
    const def = registry.get(kind, ref.use, `${where}: `);
    return createPlugin<T>(def, ref.with, ctx, where);
  };
}

/** `train.workers` resolved: a replaced decoder is a function, which worker threads cannot be sent, so it runs in the main thread. */
function imageWorkers(config: ExperimentConfig, decoderReplaced: boolean): number {
  return decoderReplaced ? 0 : imageWorkerCount(config.train.workers);
}

/**
 * The config flattened to params, with what `auto` became in this run: the backend and the image
 * workers are known now; `train.cache_images` once the data is (logged then with logParams).
 */
function resolvedParams(config: ExperimentConfig, backend: BackendReport, decoderReplaced: boolean): Record<string, string> {
  const params = flattenParams(config);
  params.backend = backend.name;
  params['train.workers'] = String(imageWorkers(config, decoderReplaced));
  if (config.train.cache_images === 'auto') delete params['train.cache_images'];
  // Thread pools are native TensorFlow's: resolved there, and no setting at all on other backends.
  const pools = backend.nativeThreads;
  for (const key of Object.keys(params)) if (key.startsWith('threads.')) delete params[key];
  if (pools) Object.assign(params, { 'threads.intra_op': String(pools.intraOp), 'threads.inter_op': String(pools.interOp) });
  return params;
}

export async function newRunDir(config: ExperimentConfig): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const safeName = config.name.replace(/[^A-Za-z0-9_.-]+/g, '-');
  const base = path.resolve(config.output_dir, `${stamp}-${safeName}`);
  let madeParent = false;
  for (let i = 0; ; i++) {
    const dir = i === 0 ? base : `${base}-${i}`;
    try {
      await fs.mkdir(dir, { recursive: false });
      return dir;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Once only: a folder that still cannot be made (e.g. under /proc) must not loop forever.
      if (code === 'ENOENT' && !madeParent) {
        madeParent = true;
        await fs.mkdir(path.dirname(dir), { recursive: true }).catch((err) => {
          throw writeError(err, path.dirname(dir));
        });
        i--;
      } else if (code !== 'EEXIST') throw writeError(e, dir);
    }
  }
}

/** runs/<id>/skipped-images.txt: `path<TAB>reason` per skipped image, kept across resumes. */
async function writeSkippedImages(runDir: string, skipped: { path: string; reason: string }[]): Promise<void> {
  const file = path.join(runDir, SKIPPED_IMAGES_FILE);
  const all = new Map<string, string>();
  const before = await fs.readFile(file, 'utf8').catch(() => '');
  for (const line of before.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) all.set(line.slice(0, tab), line.slice(tab + 1));
  }
  for (const s of skipped) if (!all.has(s.path)) all.set(s.path, s.reason);
  await writeFileAtomic(file, [...all].map(([p, reason]) => `${p}\t${reason}\n`).join(''));
}

/** On resume, metric lines past the checkpoint belong to an epoch that will be redone. */
async function truncateMetrics(runDir: string, keepLines: number): Promise<void> {
  const file = path.join(runDir, 'metrics.jsonl');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return;
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length <= keepLines) return;
  await writeFileAtomic(
    file,
    lines
      .slice(0, keepLines)
      .map((l) => `${l}\n`)
      .join(''),
  );
}

export type { DependencyContainer } from '../framework/services.js';
