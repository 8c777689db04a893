// What `gzx validate` and `gzx run` (before it makes the run folder) both check beyond the schema:
// each plugin's own `check` (option pairs, files the config names, images vs crop) and output_dir.
// One function, so validate can never say OK to a config that run then rejects.
import path from 'node:path';
import type { ExperimentConfig } from '../experiment-config.js';
import type { PluginRegistry } from '../registry.js';
import type { PluginKind } from '../plugin.js';
import { isUserError } from '../../base/errors.js';
import { outputPathError } from '../../base/output-path.js';
import { dottedPath } from './origins.js';
import { injectProblem } from '../services.js';
import { getAt, pluginRefs, problemsError, type ResolvedExperiment } from './load.js';

export interface CheckOptions {
  /** Check output_dir (not for --resume, whose run folder exists already). */
  outputDir?: boolean;
}

/** Runs every check; throws one UserError listing all problems (capped like schema errors). */
export async function checkExperiment(resolved: ResolvedExperiment, registry: PluginRegistry, opts: CheckOptions = {}): Promise<void> {
  const problems = await experimentProblems(resolved, registry, opts);
  if (problems.length > 0) throw problemsError(problems, resolved.configPath);
}

export async function experimentProblems(resolved: ResolvedExperiment, registry: PluginRegistry, opts: CheckOptions = {}): Promise<string[]> {
  const { config } = resolved;
  const problems: string[] = [];
  if (opts.outputDir) {
    const p = await outputPathError(path.resolve(config.output_dir), 'folder', 'output_dir', resolved.where('output_dir'));
    if (p) problems.push(p);
  }
  const ctx = { configDir: resolved.configDir, seed: config.seed };
  for (const { pointer, kind } of pluginRefs(config as unknown as Record<string, unknown>)) {
    const ref = getAt(config, pointer) as ExperimentConfig['data'] | undefined;
    if (!ref || !registry.has(kind as PluginKind, ref.use)) continue;
    const def = registry.get(kind as PluginKind, ref.use);
    const injectWrong = injectProblem(def);
    if (injectWrong) {
      const key = `${dottedPath(pointer)}.use`;
      problems.push(`${resolved.where(key)}: ${key}: ${kind} plugin "${ref.use}" ${injectWrong}`);
    }
    if (!def.check) continue;
    const base = `${dottedPath(pointer)}.with`;
    try {
      for (const p of await def.check(ref.with ?? {}, ctx)) {
        const key = p.key ? `${base}.${p.key}` : dottedPath(pointer);
        problems.push(`${resolved.where(key)}: ${key}: ${p.message}`);
      }
    } catch (e) {
      // A check that throws is the plugin's bug, or a UserError it chose to throw: either way, say where.
      const why = isUserError(e) ? e.message : `its check failed (${(e as Error).message}); this is a bug in the plugin`;
      problems.push(`${resolved.where(dottedPath(pointer))}: ${dottedPath(pointer)}: ${kind} plugin "${ref.use}": ${why}`);
    }
  }
  return problems;
}
