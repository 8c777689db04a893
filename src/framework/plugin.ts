// The plugin contract. src/framework never imports a plugin: plugins register themselves
// through a PluginModule (see registry.ts), built-in ones from src/plugins/index.ts.
import type * as tfType from '@tensorflow/tfjs';
import type { DependencyContainer } from 'tsyringe';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

export const PLUGIN_KINDS = ['data', 'augment', 'backbone', 'head', 'schedule', 'logger', 'callback'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** A JSON Schema (draft 2020-12) object describing a plugin's `with:` options. */
export type JsonSchema = Record<string, unknown>;

/** What every plugin factory receives besides its validated options. */
export interface PluginContext {
  /** The TensorFlow.js namespace with the chosen backend already active. */
  tf: typeof tfType;
  /** Experiment seed (integer). */
  seed: number;
  /** Folder of this run (`runs/<id>`), or a scratch folder for commands that make no run. */
  runDir: string;
  /** Folder the config file lives in; relative paths in options resolve against it. */
  configDir: string;
  /** Human-facing line output (the console logger decides how it looks). */
  log: (message: string) => void;
  /** The run's tsyringe child container: `container.resolve('runDir')` etc. (services.ts, SERVICES). */
  container: DependencyContainer;
  /** The services the definition's `inject` names, resolved from `container` (set by gzx when it creates the plugin). */
  services?: Record<string, unknown>;
}

export interface PluginDefinition<Options = any, Instance = unknown> {
  name: string;
  kind: PluginKind;
  /** One line, shown by `gzx plugins`. */
  description: string;
  /** JSON Schema of `with:`; must set `additionalProperties: false` and defaults. */
  optionsSchema: JsonSchema;
  /**
   * Services this plugin wants (names of SERVICES in services.ts: 'runDir', 'rng', 'checkpointStore'…),
   * resolved from the run's container and passed as `ctx.services`. Unknown names are a UserError.
   */
  inject?: string[];
  create(options: Options, ctx: PluginContext): Instance | Promise<Instance>;
  /**
   * Optional checks that need no training: option pairs (min <= max), files the options name,
   * images vs crop. Run by `gzx validate` and by `gzx run` before the run folder is made; `create`
   * may rely on them having passed. Returns one problem per mistake, naming the option.
   */
  check?(options: Options, ctx: CheckContext): PluginProblem[] | Promise<PluginProblem[]>;
}

/** What a plugin's `check` receives besides its validated options. */
export interface CheckContext {
  /** Folder the config file lives in; relative paths in options resolve against it. */
  configDir: string;
  /** Experiment seed. */
  seed: number;
}

/** One mistake found by `check`: the option (a key of `with:`, dotted for nested ones) and what to do. */
export interface PluginProblem {
  key: string;
  message: string;
}

/** What a third-party module (`plugins: [./my-plugin.js]`) exports: `plugins` or a default array. */
export interface PluginModule {
  plugins?: PluginDefinition[];
  /** Registers or replaces services on the run's container before the run resolves them (docs/plugins.md, "Services"). */
  services?: (container: DependencyContainer, ctx: PluginContext) => void | Promise<void>;
  default?: PluginDefinition[] | { plugins: PluginDefinition[] };
}

/**
 * The options `create` and `check` receive: the type of the plugin's `with:` schema, so each option
 * is written once, in the schema. The loader validates `with:` with ajv's useDefaults before either
 * runs, and json-schema-to-ts (3.x, by default) reads a property with a `default` as always present,
 * which matches: only options without a default can be missing.
 */
export type OptionsOf<S> = S extends JSONSchema ? FromSchema<S> : Record<string, unknown>;

/**
 * Declares a plugin; `create(options)` and `check(options)` are typed from `optionsSchema` (written
 * inline, or a constant declared `as const`).
 */
export function definePlugin<const S extends JsonSchema, I>(
  def: PluginDefinition<OptionsOf<S>, I> & { optionsSchema: S },
): PluginDefinition<OptionsOf<S>, I> {
  return def;
}
