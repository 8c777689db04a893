// The run's container: the default services (gzx's image decoder and checkpoint store, the run's
// folder, seed, log, rng, config…) registered, then each plugin module's `services` hook, which may
// replace any of them, before anything is resolved.
import type { PluginContext } from '../framework/plugin.js';
import type { PluginRegistry } from '../framework/registry.js';
import {
  SERVICES,
  newServiceContainer,
  registerContextServices,
  type CheckpointStore,
  type DependencyContainer,
  type ImageDecoder,
} from '../framework/services.js';
import { fileCheckpointStore } from '../framework/checkpoint.js';
import { defaultImageDecoder } from '../vision/pipeline/index.js';
import { UserError } from '../base/errors.js';

/** A container with the defaults registered, and a plugin context over it. */
export function serviceContext(
  base: Omit<PluginContext, 'container' | 'services'>,
  extra: Partial<Record<keyof typeof SERVICES, unknown>> = {},
): PluginContext {
  const container = newServiceContainer();
  registerContextServices(container, base);
  container.register(SERVICES.imageDecoder, { useValue: defaultImageDecoder });
  container.register(SERVICES.checkpointStore, { useValue: fileCheckpointStore });
  for (const [name, value] of Object.entries(extra)) container.register(name, { useValue: value });
  return { ...base, container };
}

/** Runs the `services` hooks of the config's plugin modules, in the order of `plugins:`. */
export async function applyServicesHooks(registry: PluginRegistry, ctx: PluginContext): Promise<void> {
  for (const { origin, hook } of registry.servicesHooks()) {
    try {
      await hook(ctx.container, ctx);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(
        `plugin module "${origin}": its services hook failed: ${(e as Error)?.message ?? String(e)}. Fix the hook (docs/plugins.md, "Services").`,
      );
    }
  }
}

/** The run's image decoder, and whether it is gzx's own (which worker threads can run). */
export function resolveImageDecoder(container: DependencyContainer): { decoder: ImageDecoder; replaced: boolean } {
  const decoder = resolveService<ImageDecoder>(container, 'imageDecoder', ['decode']);
  return { decoder, replaced: decoder !== defaultImageDecoder };
}

export function resolveCheckpointStore(container: DependencyContainer): CheckpointStore {
  return resolveService<CheckpointStore>(container, 'checkpointStore', ['write', 'read', 'restore']);
}

/** A replaceable service, checked for the methods gzx calls so a wrong replacement is one clear message. */
function resolveService<T>(container: DependencyContainer, name: keyof typeof SERVICES, methods: string[]): T {
  const service = container.resolve<T>(SERVICES[name]);
  const missing = methods.filter((m) => typeof (service as Record<string, unknown> | null)?.[m] !== 'function');
  if (missing.length > 0) {
    throw new UserError(
      `The service "${name}" registered by a plugin module has no ${missing.map((m) => `${m}()`).join(', ')}; ` +
        `it must have ${methods.map((m) => `${m}()`).join(', ')} (docs/plugins.md, "Services").`,
    );
  }
  return service;
}
