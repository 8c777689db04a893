// Runs one resolved experiment: backend, run folder, plugins from a tsyringe child container,
// model, learner, and the run record. Knows no particular plugin: the caller passes the registry
// and any domain callbacks (metrics, pictures).
import 'reflect-metadata'; // tsyringe needs the Reflect polyfill loaded before it
import fs from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { Augmentation, Backbone, DataSource, DataSplits, Head, RunInfo, RunLogger, RunStatus, Schedule } from './contracts.js';
import type { CacheImagesSetting, ExperimentConfig, PluginRef } from './experiment.js';
import type { PluginContext, PluginKind } from './plugin.js';
import type { PluginRegistry } from './registry.js';
import { selectBackend, type BackendReport } from './backend.js';
import { Optimizer } from './optimizers.js';
import { Learner, StopTraining, type Callback, type Phase } from './learner.js';
import { ImageDataModule } from './data-module.js';
import { diskCacheDir } from './pipeline/cache.js';
import { autoCachePlan, imageWorkerCount } from './pipeline/index.js';
import { checkpointCallback, dataWaitCallback, dropoutCallback, loggingCallback, memoryPlanCallback, nanGuardCallback, stopSignalCallback } from './callbacks.js';
import { restoreCheckpoint, readCheckpointState } from './checkpoint.js';
import { saveModel } from './model-io.js';
import { withSeededRandom } from './seeded-random.js';
import { UserError } from './errors.js';
import { flattenParams } from './params.js';
import { GZX_VERSION } from './version.js';

/** tsyringe tokens of what a run provides to plugins that ask their container. */
export const TOKENS = {
  config: Symbol('ExperimentConfig'),
  runInfo: Symbol('RunInfo'),
  backend: Symbol('BackendReport'),
  dataSplits: Symbol('DataSplits'),
} as const;

export interface ResolvedRun {
  config: ExperimentConfig;
  configPath: string;
  configDir: string;
  yaml: string;
  hash: string;
}

export interface RunContext {
  runDir: string;
  config: ExperimentConfig;
  model: tf.LayersModel;
  splits: DataSplits;
  head: Head;
  loggers: RunLogger[];
  backend: BackendReport;
  tfRef: typeof tf;
}

export interface RunHooks {
  /** Domain callbacks (e.g. validation metrics), given the data the run trains on, its loggers and its log. */
  callbacks?: (splits: DataSplits, loggers: RunLogger[], log: (message: string) => void) => Callback[];
  /** After a finished fit: write pictures etc. into the run folder; returns paths (relative) to log as artifacts. */
  afterFit?: (ctx: RunContext, learner: Learner) => Promise<string[]>;
}

export interface RunOptions {
  registry: PluginRegistry;
  /** Module URLs exporting plugin lists, for image-pipeline workers (built-ins + the config's `plugins`). */
  pluginModuleUrls: string[];
  hooks?: RunHooks;
  /** An existing run folder to continue from its last checkpoint. */
  resumeDir?: string;
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

export async function runExperiment(resolved: ResolvedRun, opts: RunOptions): Promise<RunResult> {
  const { config } = resolved;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const started = Date.now();
  const backend = await selectBackend(config.backend, log, config.threads);

  const runDir = opts.resumeDir ? path.resolve(opts.resumeDir) : await newRunDir(config);
  const runId = path.basename(runDir);
  await fs.mkdir(path.join(runDir, 'artifacts'), { recursive: true });
  const checkpoint = opts.resumeDir ? await readCheckpointState(runDir) : null;
  if (opts.resumeDir && !checkpoint) {
    log(`${runDir}: no checkpoint yet; starting this run from the beginning.`);
  }
  await truncateMetrics(runDir, checkpoint?.metricsLines ?? 0);

  const child = rootContainer.createChildContainer();
  const ctx: PluginContext = { tf, seed: config.seed, runDir, configDir: resolved.configDir, log, container: child };
  const create = pluginFactory(opts.registry, ctx);

  const info: RunInfo = {
    runId,
    runName: config.name,
    runDir,
    config: config as unknown as Record<string, unknown>,
    params: flattenParams(config),
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
  child.register(TOKENS.config, { useValue: config });
  child.register(TOKENS.runInfo, { useValue: info });
  child.register(TOKENS.backend, { useValue: backend });

  const loggers: RunLogger[] = [];
  for (const [i, ref] of config.logger.entries()) loggers.push(await create<RunLogger>('logger', ref, `logger[${i}]`));
  await fs.writeFile(path.join(runDir, 'config.yaml'), resolved.yaml);
  for (const lg of loggers) await lg.start(info);

  let status: RunStatus = 'FAILED';
  let error: string | undefined;
  let summary: Record<string, unknown> = {};
  let dataModule: ImageDataModule | undefined;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort);
  try {
    const session = await assembleSession(resolved, opts, ctx, loggers, !checkpoint);
    const { splits, head, model, layerGroups, phases } = session;
    dataModule = session.dataModule;
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
      log,
      callbacks: [
        stopSignalCallback(abort.signal),
        nanGuardCallback(),
        dropoutCallback(head),
        memoryPlanCallback(log),
        dataWaitCallback(log, { workers: session.workers, cache_images: session.cacheImages }),
        ...(opts.hooks?.callbacks?.(splits, loggers, log) ?? []),
        loggingCallback([...loggers, counter]),
        checkpointCallback(runDir, () => metricPoints),
      ],
    });
    if (checkpoint) {
      await restoreCheckpoint(runDir, model, optimizer, learner.variables);
      log(`resuming ${runId} at phase ${checkpoint.phase + 1}, epoch ${checkpoint.epochInPhase + 1} (step ${checkpoint.step})`);
    }
    const start = checkpoint
      ? { phase: checkpoint.phase, epochInPhase: checkpoint.epochInPhase, step: checkpoint.step }
      : { phase: 0, epochInPhase: 0, step: 0 };
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      if (start.phase < phases.length) await learner.fit(start);
    } finally {
      process.removeListener('SIGINT', onSigint);
    }

    await saveModel(model, path.join(runDir, 'model'));
    const artifacts = ['config.yaml', 'model'];
    const ctxForHooks: RunContext = { runDir, config, model, splits, head, loggers, backend, tfRef: tf };
    artifacts.push(...((await opts.hooks?.afterFit?.(ctxForHooks, learner)) ?? []));
    for (const a of artifacts) for (const lg of loggers) await lg.logArtifact?.(a);
    status = 'FINISHED';
    const notes = Object.keys(learner.metricNotes).length > 0 ? { metric_notes: { ...learner.metricNotes } } : {};
    summary = { final: learner.state?.metrics ?? {}, ...notes, skipped_images: dataModule.skipped().length };
    model.dispose();
    optimizer.dispose();
  } catch (e) {
    if (e instanceof StopTraining) {
      status = e.status;
      error = e.message;
    } else {
      status = 'FAILED';
      error = e instanceof Error ? e.message : String(e);
      await finish();
      throw e;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    await dataModule?.close();
  }
  await finish();
  if (error && status !== 'FINISHED') log(`run ${status.toLowerCase()}: ${error}`);
  return { runId, runDir, status, summary };

  async function finish(): Promise<void> {
    summary = {
      ...summary,
      run_id: runId,
      status,
      ...(error ? { error } : {}),
      backend: { name: backend.name, package: backend.package, version: backend.version, threads: backend.threads },
      versions: { gzx: GZX_VERSION, tfjs: tf.version.tfjs, node: process.version },
      host: { cpus: os.cpus().length, platform: `${os.platform()}-${os.arch()}` },
      wall_time_sec: (Date.now() - started) / 1000,
    };
    for (const lg of loggers) {
      try {
        await lg.end(status, summary);
      } catch (err) {
        log(`logger failed to close: ${(err as Error).message}`);
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
}

/** Plugins, data, model and phases of an experiment: what `run` and `lr-find` both train. */
export async function assembleSession(
  resolved: ResolvedRun,
  opts: Pick<RunOptions, 'registry' | 'pluginModuleUrls'>,
  ctx: PluginContext,
  loggers: RunLogger[],
  loadPretrained: boolean,
): Promise<Session> {
  const { config } = resolved;
  const log = ctx.log;
  const create = pluginFactory(opts.registry, ctx);
  const data = await create<DataSource>('data', config.data, 'data');
  // Augmentations are built here once to validate them early; workers build their own copies.
  for (const [i, ref] of config.augment.entries()) await create<Augmentation>('augment', ref, `augment[${i}]`);
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
  ctx.container.register(TOKENS.dataSplits, { useValue: splits });
  if (splits.train.length === 0 || splits.valid.length === 0) {
    throw new UserError(
      `data: the split has ${splits.train.length} training and ${splits.valid.length} validation images; both need at least one. ` +
        `Use more images or change data.with.valid_fraction.`,
    );
  }
  for (const lg of loggers) await lg.setTags?.({ 'gzx.data_fingerprint': splits.fingerprint });

  const { model, layerGroups } = withSeededRandom(config.seed, () => {
    const built = backbone.build(tf);
    const outputs = head.build(tf, built.features);
    return { model: tf.model({ inputs: built.inputs, outputs, name: 'gzx' }), layerGroups: built.layerGroups };
  });
  if (backbone.loadPretrained && loadPretrained) await backbone.loadPretrained(model, log);
  log(`model: ${config.backbone.use} + ${config.head.use}, ${model.countParams().toLocaleString('en')} parameters`);

  const workers = imageWorkerCount(config.train.workers);
  const workersWhy = config.train.workers === 'auto' ? ' (train.workers: auto, one per core)' : '';
  log(`images: decoded in ${workers === 0 ? 'the main thread' : `${workers} worker thread${workers === 1 ? '' : 's'}`}${workersWhy}`);
  const cacheImages = imageCacheSetting(config.train.cache_images, splits.train.length + splits.valid.length, phases, log);
  const dataModule = new ImageDataModule(splits, config.augment, config.seed, config.train.max_steps_per_epoch, {
    workers,
    cacheImages: cacheImages !== false,
    cacheDir: cacheImages === 'disk' ? diskCacheDir(config.train.cache_dir, resolved.configDir) : null,
    pluginModules: opts.pluginModuleUrls,
    configDir: resolved.configDir,
  });
  return { splits, head, model, layerGroups, phases, dataModule, workers, cacheImages };
}

/** `train.cache_images` resolved (`auto` decided by memory), and said in the log. */
function imageCacheSetting(setting: CacheImagesSetting, images: number, phases: Phase[], log: (message: string) => void): boolean | 'disk' {
  if (setting !== 'auto') {
    if (setting !== false) log(`images: kept ${setting === 'disk' ? 'in memory and on disk' : 'in memory'} once decoded (train.cache_images: ${setting})`);
    return setting;
  }
  const plan = autoCachePlan(images, phases.map((p) => p.size));
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
    return (await def.create(ref.with, ctx)) as T;
  };
}

export async function newRunDir(config: ExperimentConfig): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const safeName = config.name.replace(/[^A-Za-z0-9_.-]+/g, '-');
  const base = path.resolve(config.output_dir, `${stamp}-${safeName}`);
  for (let i = 0; ; i++) {
    const dir = i === 0 ? base : `${base}-${i}`;
    try {
      await fs.mkdir(dir, { recursive: false });
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') await fs.mkdir(path.dirname(dir), { recursive: true });
      else if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
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
  await fs.writeFile(file, lines.slice(0, keepLines).map((l) => `${l}\n`).join(''));
}

export type { DependencyContainer };
