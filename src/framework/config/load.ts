// The one way to turn a config file (+ --set overrides) into the ExperimentConfig a run uses.
import path from 'node:path';
import { createHash } from 'node:crypto';
import ajvModule, { type ValidateFunction } from 'ajv/dist/2020.js';
import { Document, isScalar, visit } from 'yaml';
import type { ExperimentConfig, ExperimentInput } from '../experiment-config.js';
import { PLUGIN_KINDS, type JsonSchema, type PluginKind } from '../plugin.js';
import type { PluginRegistry } from '../registry.js';
import { UserError, isUserError } from '../../base/errors.js';
import { applySet, capLines, isPlainObject, loadLayered } from './sources.js';
import { displayPath, dottedPath, formatOrigin, toPointer, type OriginMap } from './origins.js';
import { formatSchemaErrors } from './schema-errors.js';
import { experimentSchema } from './experiment-schema.js';

const Ajv2020 = ajvModule.default;

export interface ResolvedExperiment {
  config: ExperimentConfig;
  /** Absolute path of the config file. */
  configPath: string;
  configDir: string;
  /** The resolved config (defaults filled, phases completed) as YAML. */
  yaml: string;
  /** sha256 of the canonical JSON of `config`, first 12 hex digits. */
  hash: string;
  /** `file:line:col` (or `--set …`) of a dotted key such as `data.with.root`, for errors found later. */
  where(keyPath: string): string;
}

let experimentValidator: ValidateFunction | null = null;

export function loadExperimentSchema(): JsonSchema {
  return experimentSchema as unknown as JsonSchema;
}

function experimentValidate(): ValidateFunction {
  if (!experimentValidator) {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true });
    experimentValidator = ajv.compile(loadExperimentSchema());
  }
  return experimentValidator;
}

// Plugin schemas come from other authors: unknown annotation keywords should not break loading.
const pluginAjv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: false });
const pluginValidators = new WeakMap<object, ValidateFunction>();

function pluginValidate(schema: JsonSchema): ValidateFunction {
  let v = pluginValidators.get(schema);
  if (!v) {
    v = pluginAjv.compile(schema);
    pluginValidators.set(schema, v);
  }
  return v;
}

export interface LoadOptions {
  /**
   * Folder that relative paths in the config resolve against (`plugins:`, plugin options) and that
   * becomes `configDir`; default: the config file's folder. Resume uses it to re-read a run's saved
   * config.yaml as if it still sat beside the original config.
   */
  baseDir?: string;
}

/**
 * Reads `file` (following `extends:`), applies `sets` (`a.b.0.c=value`), loads the config's
 * `plugins:` into `registry`, validates everything and fills defaults. Every problem found is
 * reported together in one UserError (exit 1; a malformed --set is exit 2).
 */
export async function loadExperiment(file: string, sets: string[], registry: PluginRegistry, options: LoadOptions = {}): Promise<ResolvedExperiment> {
  const configPath = path.resolve(file);
  const configDir = options.baseDir ? path.resolve(options.baseDir) : path.dirname(configPath);
  const layer = loadLayered(configPath);
  for (const s of sets) applySet(layer, s);
  const { value, origins } = layer;
  const problems: string[] = [];

  await loadPluginModules(value, origins, configPath, configDir, registry, problems);
  // Plugins of a module that failed to load would each be reported as "not registered": noise.
  const modulesLoaded = problems.length === 0;

  // `with:` followed by nothing (all options commented out) is YAML null; it means "no options".
  for (const { pointer } of pluginRefs(value)) {
    const ref = getAt(value, pointer);
    if (isPlainObject(ref) && ref.with === null) ref.with = {};
  }

  const validate = experimentValidate();
  if (!validate(value)) problems.push(...formatSchemaErrors(validate.errors ?? [], origins));

  // Plugin options are checked even when other keys failed, so one run of `validate` shows everything.
  for (const { pointer, kind } of modulesLoaded ? pluginRefs(value) : []) {
    validatePluginRef(value, pointer, kind, registry, origins, problems);
  }
  if (problems.length === 0) problems.push(...checkLrRanges(value, origins));
  if (problems.length > 0) throw problemsError(problems, configPath);
  fillPhases(value);

  const config = orderLikeSchema(value, loadExperimentSchema(), registry) as unknown as ExperimentConfig;
  return {
    config,
    configPath,
    configDir,
    yaml: configToYaml(config),
    hash: configHash(config),
    where: (keyPath: string) => formatOrigin(origins.locate(toPointer(keyPath.split('.')))),
  };
}

/** One UserError listing the problems in file order: the first MAX_LISTED_PROBLEMS, then "and N more". */
export function problemsError(problems: string[], configPath: string): UserError {
  const head = problems.length > 1 ? `${problems.length} problems in ${displayPath(configPath)}:\n` : '';
  return new UserError(head + capLines(sortByPosition(problems)));
}

/** File order (line, column), `--set` problems last: reads like the file. */
function sortByPosition(lines: string[]): string[] {
  const key = (l: string): [string, number, number] => {
    const m = /^(.*?):(\d+):(\d+): /.exec(l);
    return m && !l.startsWith('--set ') ? [m[1], Number(m[2]), Number(m[3])] : ['\uffff', 0, 0];
  };
  return lines
    .map((l, i) => ({ l, i, k: key(l) }))
    .sort((a, b) => a.k[0].localeCompare(b.k[0]) || a.k[1] - b.k[1] || a.k[2] - b.k[2] || a.i - b.i)
    .map((x) => x.l);
}

/** `lr: [low, high]` must go upwards: low is for the first layer group, high for the head. */
function checkLrRanges(value: Record<string, unknown>, origins: OriginMap): string[] {
  const out: string[] = [];
  (value as unknown as ExperimentConfig).train.phases.forEach((phase, i) => {
    if (Array.isArray(phase.lr) && phase.lr[0] > phase.lr[1]) {
      const pointer = `/train/phases/${i}/lr`;
      out.push(
        `${formatOrigin(origins.locate(pointer))}: ${dottedPath(pointer)}: expected [low, high] with low <= high, ` +
          `got [${phase.lr.join(', ')}]. Swap the two rates.`,
      );
    }
  });
  return out;
}

/** The config as YAML the way gzx prints and saves it: short lists of numbers or strings inline. */
export function configToYaml(config: unknown): string {
  const doc = new Document(config);
  visit(doc, {
    Seq(_, node) {
      if (node.items.length <= 8 && node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** sha256 of the canonical (sorted-key) JSON, first 12 hex digits. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 12);
}

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

async function loadPluginModules(
  value: Record<string, unknown>,
  origins: OriginMap,
  configPath: string,
  configDir: string,
  registry: PluginRegistry,
  problems: string[],
): Promise<void> {
  const list = value.plugins;
  if (!Array.isArray(list)) return; // the schema reports a wrong type
  for (const [i, spec] of list.entries()) {
    if (typeof spec !== 'string' || spec === '') continue;
    const pointer = `/plugins/${i}`;
    const origin = origins.locate(pointer);
    // A relative path in an extended file is relative to that file; store it relative to configDir.
    let stored = spec;
    const declaredIn = 'file' in origin && origin.file !== configPath ? path.dirname(origin.file) : configDir;
    if (spec.startsWith('.') && declaredIn !== configDir) {
      stored = path.relative(configDir, path.resolve(declaredIn, spec));
      if (!stored.startsWith('.')) stored = './' + stored;
      list[i] = stored;
    }
    const where = `${formatOrigin(origin)}: plugins`;
    try {
      await registry.loadModules([stored], configDir, where);
    } catch (e) {
      if (!isUserError(e)) throw e;
      const located = `${formatOrigin(origin)}: plugins.${i}`;
      // Load failures carry `where`; registration clashes do not, so they get the location prepended.
      problems.push(e.message.includes(`${where}[0]`) ? e.message.replace(`${where}[0]`, located) : `${located}: ${e.message}`);
    }
  }
}

export function* pluginRefs(value: Record<string, unknown>): Generator<{ pointer: string; kind: PluginKind }> {
  const single: PluginKind[] = ['data', 'backbone', 'head', 'schedule'];
  for (const kind of single) if (value[kind] !== undefined) yield { pointer: `/${kind}`, kind };
  for (const [key, kind] of [
    ['augment', 'augment'],
    ['logger', 'logger'],
    ['callbacks', 'callback'],
  ] as const) {
    const list = value[key];
    if (Array.isArray(list)) for (let i = 0; i < list.length; i++) yield { pointer: `/${key}/${i}`, kind };
  }
  const phases = isPlainObject(value.train) ? value.train.phases : undefined;
  if (Array.isArray(phases)) {
    for (let i = 0; i < phases.length; i++) {
      if (isPlainObject(phases[i]) && phases[i].schedule !== undefined) {
        yield { pointer: `/train/phases/${i}/schedule`, kind: 'schedule' };
      }
    }
  }
}

export function getAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const part of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function validatePluginRef(
  root: Record<string, unknown>,
  pointer: string,
  kind: PluginKind,
  registry: PluginRegistry,
  origins: OriginMap,
  problems: string[],
): void {
  const ref = getAt(root, pointer);
  // A malformed reference is already reported by the experiment schema.
  if (!isPlainObject(ref) || typeof ref.use !== 'string' || ref.use === '') return;
  if (ref.with === undefined) ref.with = {};
  if (!isPlainObject(ref.with)) return;
  let def;
  try {
    def = registry.get(kind, ref.use, `${formatOrigin(origins.locate(pointer + '/use'))}: ${dottedPath(pointer + '/use')}: `);
  } catch (e) {
    if (!isUserError(e)) throw e;
    problems.push(e.message);
    return;
  }
  let check: ValidateFunction;
  try {
    check = pluginValidate(def.optionsSchema);
  } catch (e) {
    problems.push(
      `${formatOrigin(origins.locate(pointer))}: ${dottedPath(pointer)}: ${kind} plugin "${def.name}" has an invalid ` +
        `options schema (${(e as Error).message}). This is a bug in the plugin, not in the config.`,
    );
    return;
  }
  if (!check(ref.with)) problems.push(...formatSchemaErrors(check.errors ?? [], origins, pointer + '/with'));
}

/** Completes each phase from `train` and the top-level schedule, so the printed config is what runs. */
function fillPhases(value: Record<string, unknown>): void {
  const cfg = value as unknown as ExperimentInput;
  for (const phase of cfg.train.phases) {
    phase.size ??= cfg.train.size;
    phase.lr ??= cfg.train.lr;
    phase.batch_size ??= cfg.train.batch_size;
    phase.schedule ??= structuredClone(cfg.schedule);
  }
}

/**
 * Orders keys as the schema lists them (ajv appends defaults at the end), so printed configs read
 * top-down like docs/config.md. Plugin `with:` blocks follow the plugin's own schema.
 */
function orderLikeSchema(
  v: unknown,
  schema: JsonSchema | undefined,
  registry: PluginRegistry,
  kind?: PluginKind,
  doc: JsonSchema = loadExperimentSchema(),
): unknown {
  const root = loadExperimentSchema();
  const defs = (doc.$defs ?? {}) as Record<string, JsonSchema>;
  const ref = schema?.$ref;
  const s = typeof ref === 'string' && ref.startsWith('#/$defs/') ? defs[ref.slice(8)] : schema;
  if (Array.isArray(v)) return v.map((x) => orderLikeSchema(x, s?.items as JsonSchema | undefined, registry, kind, doc));
  if (!isPlainObject(v)) return v;
  const props = (s?.properties ?? {}) as Record<string, JsonSchema>;
  const keys = [...Object.keys(props).filter((k) => k in v), ...Object.keys(v).filter((k) => !(k in props))];
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    let childSchema: JsonSchema | undefined = props[k];
    let childDoc = doc;
    let childKind = kind;
    if (s === root && (PLUGIN_KINDS as readonly string[]).includes(k)) childKind = k as PluginKind;
    if (k === 'schedule' && doc === root && s === defs.phase) childKind = 'schedule';
    if (k === 'with' && childKind && typeof v.use === 'string' && registry.has(childKind, v.use)) {
      childSchema = childDoc = registry.get(childKind, v.use).optionsSchema;
    }
    out[k] = orderLikeSchema(v[k], childSchema, registry, childKind, childDoc);
  }
  return out;
}

/**
 * Only loads the `plugins:` modules a config names (after extends and --set), without validating
 * the rest: lets `gzx plugins --config` list third-party plugins of a config that is still wrong.
 */
export async function loadConfigPlugins(file: string, sets: string[], registry: PluginRegistry): Promise<void> {
  const configPath = path.resolve(file);
  const layer = loadLayered(configPath);
  for (const s of sets) applySet(layer, s);
  const problems: string[] = [];
  await loadPluginModules(layer.value, layer.origins, configPath, path.dirname(configPath), registry, problems);
  if (problems.length > 0) throw new UserError(problems.join('\n'));
}
