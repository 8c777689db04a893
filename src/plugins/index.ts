// The built-in plugins. Each lives in src/plugins/<kind>/<name>.ts with its option schema beside it.
import type { PluginDefinition } from '../core/plugin.js';

export const builtinPlugins: PluginDefinition[] = [];
