// The registry every command starts from: the built-in plugins; configs add their own `plugins:`.
import { PluginRegistry } from '../core/registry.js';
import { builtinPlugins } from '../plugins/index.js';

export function createRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  registry.registerAll(builtinPlugins);
  return registry;
}
