// The built-in plugins. Each lives in src/plugins/<kind>/<name>.ts with its option schema beside it.
import type { PluginDefinition } from '../framework/plugin.js';
import { PluginRegistry } from '../framework/registry.js';
import { galaxyZooHead } from './head/galaxy-zoo.js';
import { simpleCnnBackbone } from './backbone/simple-cnn.js';
import { resnetBackbone } from './backbone/resnet.js';
import { constantSchedule } from './schedule/constant.js';
import { cosineSchedule } from './schedule/cosine.js';
import { oneCycleSchedule } from './schedule/one-cycle.js';
import { consoleLogger } from './logger/console.js';
import { localLogger } from './logger/local.js';
import { mlflowLogger } from './logger/mlflow.js';
import { plugins as augmentPlugins } from './augment/index.js';
import { syntheticData } from './data/synthetic.js';
import { kaggleGalaxyZooData } from './data/kaggle-galaxy-zoo.js';
import { earlyStoppingCallback } from './callback/early-stopping.js';
import { saveBestCallback } from './callback/save-best.js';
import { gradientClippingCallback } from './callback/gradient-clipping.js';

export const builtinPlugins: PluginDefinition[] = [
  simpleCnnBackbone,
  resnetBackbone,
  constantSchedule,
  cosineSchedule,
  oneCycleSchedule,
  consoleLogger,
  localLogger,
  mlflowLogger,
  galaxyZooHead,
  ...augmentPlugins,
  syntheticData,
  kaggleGalaxyZooData,
  earlyStoppingCallback,
  saveBestCallback,
  gradientClippingCallback,
];

/** The same list under the name PluginRegistry.loadModules expects (worker threads load it by URL). */
export const plugins = builtinPlugins;

/** A registry holding the built-ins; a config's `plugins:` add to it. */
export function createRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  registry.registerAll(builtinPlugins);
  return registry;
}
