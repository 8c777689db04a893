// The services a run provides through its tsyringe container: their tokens (plain strings, so
// third-party plugins that import nothing from gzx can name them), what each is, and how a plugin's
// `inject:` list is resolved. The app registers the defaults (src/app/services.ts); a plugin module
// may replace one with its `services(container, ctx)` hook before the run resolves it.
import 'reflect-metadata'; // the one place: tsyringe throws at import time without the Reflect polyfill
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type * as tf from '@tensorflow/tfjs';
import type { RawImage } from './contracts.js';
import type { CheckpointState } from './checkpoint.js';
import type { Optimizer } from './optimizers.js';
import type { PluginDefinition, PluginContext } from './plugin.js';
import { SeededRng, deriveSeed } from '../base/random.js';
import { UserError } from '../base/errors.js';
import { didYouMean } from '../base/suggest.js';

export type { DependencyContainer };

/** Service tokens: the string is the token (`container.resolve('checkpointStore')`) and the name in `inject:`. */
export const SERVICES = {
  config: 'config',
  runInfo: 'runInfo',
  backend: 'backend',
  runDir: 'runDir',
  configDir: 'configDir',
  seed: 'seed',
  log: 'log',
  loggers: 'loggers',
  rng: 'rng',
  dataSplits: 'dataSplits',
  dataModule: 'dataModule',
  imageDecoder: 'imageDecoder',
  checkpointStore: 'checkpointStore',
} as const;
export type ServiceName = keyof typeof SERVICES;

/** One line per service, for error messages and `docs/plugins.md` ("Services"). */
export const SERVICE_DESCRIPTIONS: Record<ServiceName, string> = {
  config: 'the resolved experiment config (defaults filled)',
  runInfo: 'the RunInfo loggers receive (id, name, folder, params, tags)',
  backend: 'the chosen TensorFlow.js backend (name, package, version, threads)',
  runDir: 'the run folder (runs/<id>)',
  configDir: 'the folder of the config file',
  seed: 'the experiment seed',
  log: "the run's line output, (message) => void",
  loggers: "the run's RunLogger list (complete once the logger plugins are made)",
  rng: "a SeededRng of the plugin's own, seeded from the experiment seed and the plugin's place in the config",
  dataSplits: 'the train/valid split the data plugin prepared (from callback plugins on)',
  dataModule: 'the DataModule the Learner reads batches from (from callback plugins on)',
  imageDecoder: 'replaceable: {decode(path, {crop, size}) → RawImage}, how training images are decoded',
  checkpointStore: 'replaceable: {write, read, restore}, how per-epoch checkpoints are saved and resumed',
};

export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

/** Decodes one image file to `size`×`size` 8-bit RGB after a centre crop (null: the whole image). */
export interface ImageDecoder {
  decode(path: string, opts: { crop: number | null; size: number }): Promise<RawImage>;
}

/** Where checkpoints live. `write` after each epoch; `read` and `restore` when a run resumes. */
export interface CheckpointStore {
  write(
    runDir: string,
    model: tf.LayersModel,
    optimizer: Optimizer,
    position: Omit<CheckpointState, 'optimizer' | 'savedAt' | 'nextDataOrderSeed'>,
  ): Promise<void>;
  /** The last complete checkpoint's state, or null when there is none. */
  read(runDir: string): Promise<CheckpointState | null>;
  /** Loads weights and optimiser state into a freshly built model; returns the state, or null. */
  restore(runDir: string, model: tf.LayersModel, optimizer: Optimizer, variables: Map<string, tf.Variable>): Promise<CheckpointState | null>;
}

/** A plugin module's hook that may register (or replace) services before the run resolves them. */
export type ServicesHook = (container: DependencyContainer, ctx: PluginContext) => void | Promise<void>;

/** A fresh child of tsyringe's root container: one per run (or per command that makes plugins). */
export function newServiceContainer(): DependencyContainer {
  return rootContainer.createChildContainer();
}

/** Registered in a plugin's own scope: its place in the config (`callbacks[0]`), which seeds its `rng`. */
const PLUGIN_PLACE = 'gzx.pluginPlace';
/** Keeps plugin generators apart from every other stream derived from the seed. */
const RNG_STREAM = 0x5e7f1ce5;

function stringHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Registers the services every plugin context has: the seed, folders, log line and the rng factory. */
export function registerContextServices(container: DependencyContainer, ctx: Pick<PluginContext, 'seed' | 'runDir' | 'configDir' | 'log'>): void {
  container.register(SERVICES.seed, { useValue: ctx.seed });
  container.register(SERVICES.runDir, { useValue: ctx.runDir });
  container.register(SERVICES.configDir, { useValue: ctx.configDir });
  container.register(SERVICES.log, { useValue: ctx.log });
  container.register(SERVICES.rng, {
    useFactory: (c) =>
      new SeededRng(deriveSeed(ctx.seed, RNG_STREAM, c.isRegistered(PLUGIN_PLACE, true) ? stringHash(c.resolve<string>(PLUGIN_PLACE)) : 0)),
  });
}

/**
 * The services `def.inject` names, resolved from `ctx.container` in a scope of the plugin's own.
 * Unknown names and services this command does not have are one UserError naming the plugin.
 */
export function resolveInjected(def: PluginDefinition, ctx: PluginContext, where: string): Record<string, unknown> {
  const label = `${where ? `${where}: ` : ''}${def.kind} plugin "${def.name}"`;
  const problem = injectProblem(def);
  if (problem) throw new UserError(`${label} ${problem}`);
  const wanted = def.inject ?? [];
  const scope = ctx.container.createChildContainer();
  scope.register(PLUGIN_PLACE, { useValue: where || `${def.kind}/${def.name}` });
  const services: Record<string, unknown> = {};
  for (const name of wanted) {
    if (!scope.isRegistered(name, true)) {
      throw new UserError(
        `${label} asks for the service "${name}" (${SERVICE_DESCRIPTIONS[name as ServiceName]}), which is not available where ${def.kind} plugins are made ` +
          `by this command. Available here: ${SERVICE_NAMES.filter((n) => scope.isRegistered(n, true)).join(', ')}.`,
      );
    }
    services[name] = scope.resolve(name);
  }
  return services;
}

/**
 * What is wrong with a definition's `inject` (not a list of strings, or a name gzx has no service
 * for), as the end of a sentence that starts with the plugin's name; null when nothing is.
 */
export function injectProblem(def: PluginDefinition): string | null {
  const wanted: unknown = def.inject ?? [];
  if (!Array.isArray(wanted) || wanted.some((n) => typeof n !== 'string')) {
    return `declares inject: ${JSON.stringify(wanted)}; it must be a list of service names (${SERVICE_NAMES.join(', ')}).`;
  }
  const unknown = (wanted as string[]).find((n) => !(SERVICE_NAMES as string[]).includes(n));
  if (unknown === undefined) return null;
  return (
    `asks for the service "${unknown}", which gzx does not have.${didYouMean(unknown, SERVICE_NAMES)} ` +
    `Services: ${SERVICE_NAMES.join(', ')} (docs/plugins.md, "Services").`
  );
}

/** Makes a plugin with its declared services on `ctx.services`; what every caller of `create` uses. */
export async function createPlugin<T>(def: PluginDefinition, options: unknown, ctx: PluginContext, where = ''): Promise<T> {
  const services = def.inject?.length ? resolveInjected(def, ctx, where) : {};
  // Descriptors, not a spread: a context may have getters (the image workers' `tf` throws when read).
  const withServices = Object.defineProperties(
    {},
    { ...Object.getOwnPropertyDescriptors(ctx), services: { value: services, enumerable: true } },
  ) as PluginContext;
  return (await def.create(options, withServices)) as T;
}
