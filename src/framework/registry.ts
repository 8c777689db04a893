// Maps `use: <name>` in a config to a plugin definition, per kind (mmengine's registry idea).
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { PLUGIN_KINDS, type PluginDefinition, type PluginKind, type PluginModule } from './plugin.js';
import type { ServicesHook } from './services.js';
import { UserError } from '../base/errors.js';
import { didYouMean } from '../base/suggest.js';

export class PluginRegistry {
  private readonly byKind = new Map<PluginKind, Map<string, PluginDefinition>>(PLUGIN_KINDS.map((k) => [k, new Map()]));
  /** Where each plugin came from (built-in or a module path), for error messages. */
  private readonly origin = new Map<string, string>();
  /** Modules' `services` hooks, in the order of the config's `plugins:` list. */
  private readonly hooks: { origin: string; hook: ServicesHook }[] = [];

  register(def: PluginDefinition, origin = 'built-in'): void {
    if (!PLUGIN_KINDS.includes(def.kind)) {
      throw new UserError(`Plugin "${def.name}" from ${origin} has kind "${def.kind}", which is not one of: ${PLUGIN_KINDS.join(', ')}.`);
    }
    const table = this.byKind.get(def.kind)!;
    const key = `${def.kind}/${def.name}`;
    if (table.has(def.name) && this.origin.get(key) !== origin) {
      throw new UserError(
        `Two plugins are registered as ${def.kind} "${def.name}": one from ${this.origin.get(key)}, one from ${origin}. Rename one of them.`,
      );
    }
    table.set(def.name, def);
    this.origin.set(key, origin);
  }

  registerAll(defs: PluginDefinition[], origin = 'built-in'): void {
    for (const d of defs) this.register(d, origin);
  }

  /** A module's hook that registers or replaces services on a run's container. */
  addServicesHook(hook: ServicesHook, origin: string): void {
    this.hooks.push({ origin, hook });
  }

  servicesHooks(): { origin: string; hook: ServicesHook }[] {
    return [...this.hooks];
  }

  has(kind: PluginKind, name: string): boolean {
    return this.byKind.get(kind)!.has(name);
  }

  names(kind: PluginKind): string[] {
    return [...this.byKind.get(kind)!.keys()].sort();
  }

  list(kind?: PluginKind): PluginDefinition[] {
    const kinds = kind ? [kind] : PLUGIN_KINDS;
    return kinds.flatMap((k) => [...this.byKind.get(k)!.values()].sort((a, b) => a.name.localeCompare(b.name)));
  }

  /** The definition, or a UserError listing what is registered and the closest name. */
  get(kind: PluginKind, name: string, where = ''): PluginDefinition {
    const def = this.byKind.get(kind)!.get(name);
    if (def) return def;
    const names = this.names(kind);
    throw new UserError(
      `${where}${kind} plugin "${name}" is not registered.${didYouMean(name, names)} ` +
        `Registered ${kind} plugins: ${names.join(', ') || '(none)'}.`,
    );
  }

  /**
   * Loads third-party plugin modules named in a config (`plugins: [./x.js, npm-package]`).
   * Relative paths resolve against the config's folder; bare names resolve as npm packages.
   */
  async loadModules(specifiers: string[], baseDir: string, where = 'plugins'): Promise<void> {
    for (const [i, spec] of specifiers.entries()) {
      const isPath = spec.startsWith('.') || spec.startsWith('/') || path.isAbsolute(spec);
      const target = isPath ? pathToFileURL(path.resolve(baseDir, spec)).href : spec;
      let mod: PluginModule;
      try {
        mod = (await import(target)) as PluginModule;
      } catch (e) {
        const reason = (e as Error).message.split('\n')[0];
        const file = isPath ? path.resolve(baseDir, spec) : null;
        // Not found (the path or package is wrong) and found-but-broken (the plugin's code throws) need different fixes.
        const notFound = file ? !existsSync(file) : (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && reason.includes(`'${spec}'`);
        if (notFound) {
          throw new UserError(
            `${where}[${i}]: cannot load plugin module "${spec}"${file ? ` (${file})` : ''}: ${reason}. ` +
              (file ? 'Fix the path (relative to the config file).' : `Install the package (npm install ${spec}) or fix its name.`),
          );
        }
        throw new UserError(
          `${where}[${i}]: plugin module "${spec}"${file ? ` (${file})` : ''} was found but failed while loading: ` +
            `${(e as Error).name}: ${reason}. Fix the error in the plugin's code (\`node ${file ?? `-e "import('${spec}')"`}\` shows it in full).`,
        );
      }
      const defs = pluginsOf(mod);
      const hook = servicesOf(mod);
      if (!defs && !hook) {
        throw new UserError(
          `${where}[${i}]: module "${spec}" exports no plugins. Export \`plugins\` (an array of plugin definitions) or a default array, ` +
            `or \`services\` (a function that registers services; docs/plugins.md, "Services").`,
        );
      }
      if (mod.services !== undefined && typeof mod.services !== 'function') {
        throw new UserError(`${where}[${i}]: module "${spec}" exports \`services\` that is not a function. Export \`services(container, ctx)\`.`);
      }
      if (defs) this.registerAll(defs, spec);
      if (hook) this.addServicesHook(hook, spec);
    }
  }
}

function servicesOf(mod: PluginModule): ServicesHook | null {
  if (typeof mod.services === 'function') return mod.services;
  const viaDefault = (mod.default as { services?: unknown } | undefined)?.services;
  return typeof viaDefault === 'function' ? (viaDefault as ServicesHook) : null;
}

function pluginsOf(mod: PluginModule): PluginDefinition[] | null {
  if (Array.isArray(mod.plugins)) return mod.plugins;
  if (Array.isArray(mod.default)) return mod.default;
  if (mod.default && Array.isArray((mod.default as { plugins?: unknown }).plugins)) {
    return (mod.default as { plugins: PluginDefinition[] }).plugins;
  }
  return null;
}
