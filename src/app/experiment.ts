// The composition root: built-in plugins + the Galaxy Zoo hooks + the generic core.
// CLI commands call these functions and only print what comes back.
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadExperiment, configHash, configToYaml, type ResolvedExperiment } from '../framework/config/load.js';
import type { PluginRegistry } from '../framework/registry.js';
import { createRegistry } from '../plugins/index.js';
import { runExperiment, type RunResult } from './run.js';
import { lrFind, LR_FIND_DEFAULTS, type LrFindOptions, type LrFindResult } from './lr-find.js';
import { UserError } from '../base/errors.js';
import { galaxyRunHooks } from '../galaxy/training.js';
import { sourceTags } from '../tracking/mlflow/tags.js';
import { checkExperiment } from '../framework/config/check.js';
import type { TrialFile } from './sweep/sweep.js';

/** The run folder is the source of truth, so the `local` logger is always on. */
function withLocalLogger(resolved: ResolvedExperiment): ResolvedExperiment {
  if (resolved.config.logger.some((l) => l.use === 'local')) return resolved;
  const config = { ...resolved.config, logger: [...resolved.config.logger, { use: 'local', with: {} }] };
  return { ...resolved, config, yaml: configToYaml(config), hash: configHash(config) };
}

/** Modules worker threads load to build augmentations: the built-in ones and the config's `plugins:`. */
function pluginModuleUrls(resolved: ResolvedExperiment): string[] {
  // The pipeline maps src/*.ts to the compiled dist/*.js for its workers (under vitest).
  const builtins = new URL(`../plugins/augment/index${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url).href;
  const extra = resolved.config.plugins.map((spec) =>
    spec.startsWith('.') || path.isAbsolute(spec) ? pathToFileURL(path.resolve(resolved.configDir, spec)).href : spec,
  );
  return [builtins, ...extra];
}

export interface TrainRequest {
  configFile?: string;
  sets?: string[];
  resumeDir?: string;
  /** A sweep trial (trials/NNN.json written by `gzx sweep`): its resolved config, run folder and tags. */
  trialFile?: string;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export async function resolveForRun(req: TrainRequest): Promise<{ registry: PluginRegistry; resolved: ResolvedExperiment }> {
  const registry = createRegistry();
  if (req.resumeDir) {
    const runConfig = path.join(req.resumeDir, 'config.yaml');
    const meta = await readMeta(req.resumeDir);
    if (!(await fs.stat(runConfig).catch(() => null))) {
      throw new UserError(
        `${runConfig}: not found: the run failed before it started${meta.status === 'FAILED' ? ' (meta.json says why)' : ''}, so there is nothing to resume. ` +
          `Start it again with \`gzx run ${meta.configPath}\`.`,
      );
    }
    if (req.sets?.length) {
      throw new UserError('--set cannot be combined with --resume: a resumed run keeps the config it started with.', 2);
    }
    const resolved = await loadExperiment(runConfig, [], registry, { baseDir: path.dirname(meta.configPath) });
    return { registry, resolved: withLocalLogger(resolved) };
  }
  if (req.trialFile) {
    const trial = await readTrialFile(req.trialFile);
    const resolved = await loadExperiment(trial.config, [], registry, { baseDir: trial.base_dir });
    return { registry, resolved: withLocalLogger({ ...resolved, configPath: trial.config_path }) };
  }
  if (!req.configFile) throw new UserError('Name a config file, or --resume runs/<id>.', 2);
  const resolved = await loadExperiment(req.configFile, req.sets ?? [], registry);
  if (resolved.config.sweep !== undefined) {
    (req.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(
      `${resolved.configPath} has a sweep: block; \`gzx run\` trains the config as written (\`gzx sweep\` runs the trials).`,
    );
    const { sweep: _sweep, ...config } = resolved.config;
    return { registry, resolved: withLocalLogger({ ...resolved, config, yaml: configToYaml(config), hash: configHash(config) }) };
  }
  return { registry, resolved: withLocalLogger(resolved) };
}

async function readTrialFile(file: string): Promise<TrialFile> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as TrialFile;
  } catch (e) {
    throw new UserError(`${file}: cannot read the trial (${(e as Error).message}). --trial takes a trials/NNN.json written by \`gzx sweep\`.`, 2);
  }
}

async function readMeta(runDir: string): Promise<{ configPath: string; status: string }> {
  const file = path.join(runDir, 'meta.json');
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    throw new UserError(`${file}: not found or unreadable. --resume takes a run folder made by \`gzx run\` (runs/<id>).`);
  }
}

export async function trainExperiment(req: TrainRequest): Promise<RunResult> {
  const { registry, resolved } = await resolveForRun(req);
  // Everything `gzx validate` checks, before a run folder exists: a mistake leaves no FAILED run behind.
  await checkExperiment(resolved, registry, { outputDir: !req.resumeDir });
  const trial = req.trialFile ? await readTrialFile(req.trialFile) : null;
  return runExperiment(resolved, {
    runDir: trial?.run_dir,
    registry,
    pluginModuleUrls: pluginModuleUrls(resolved),
    hooks: galaxyRunHooks,
    resumeDir: req.resumeDir,
    signal: req.signal,
    log: req.log,
    tags: { ...sourceTags(resolved.configDir), ...trial?.tags },
  });
}

export async function findLearningRate(req: TrainRequest, options: Partial<LrFindOptions> = {}): Promise<LrFindResult> {
  const { registry, resolved } = await resolveForRun(req);
  await checkExperiment(resolved, registry, { outputDir: true });
  return lrFind(
    resolved,
    { registry, pluginModuleUrls: pluginModuleUrls(resolved), log: req.log },
    {
      ...LR_FIND_DEFAULTS,
      ...options,
    },
  );
}
