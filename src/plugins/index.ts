// The built-in plugins. Each lives in src/plugins/<kind>/<name>.ts with its option schema beside it.
import type { PluginDefinition } from '../core/plugin.js';

export const builtinPlugins: PluginDefinition[] = [];

/** The same list under the name PluginRegistry.loadModules expects (worker threads load it by URL). */
export const plugins = builtinPlugins;
