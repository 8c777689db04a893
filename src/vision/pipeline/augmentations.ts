// Builds the augmentation chain from `augment:` refs; the same code runs in the main thread and in
// each worker, so both produce identical images.
import ajvModule, { type ValidateFunction } from 'ajv/dist/2020.js';
import type { AffineDraw, Augmentation, RawImage, Rng } from '../../framework/contracts.js';
import { applyAffineDraw, multiply } from './warp.js';
import type { PluginRef } from '../../framework/experiment-config.js';
import type { JsonSchema, PluginContext } from '../../framework/plugin.js';
import { PluginRegistry } from '../../framework/registry.js';
import { createPlugin, newServiceContainer, registerContextServices } from '../../framework/services.js';
import { UserError } from '../../base/errors.js';

const Ajv2020 = ajvModule.default;
// Plugin schemas come from other authors: unknown annotation keywords should not break loading.
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
const validators = new WeakMap<object, ValidateFunction>();

export async function loadAugmentRegistry(pluginModules: string[], configDir: string): Promise<PluginRegistry> {
  const registry = new PluginRegistry();
  await registry.loadModules(pluginModules, configDir, 'pipeline plugin modules');
  return registry;
}

/**
 * Checks each ref against its plugin's schema and fills defaults (the config loader normally did
 * this already; repeating it is harmless and protects direct API callers).
 */
export function resolveAugmentRefs(registry: PluginRegistry, refs: PluginRef[]): PluginRef[] {
  return refs.map((ref, i) => {
    const def = registry.get('augment', ref.use, `augment[${i}]: `);
    const options = structuredClone(ref.with ?? {});
    let validate = validators.get(def.optionsSchema);
    if (!validate) {
      validate = ajv.compile(def.optionsSchema as JsonSchema);
      validators.set(def.optionsSchema, validate);
    }
    if (!validate(options)) {
      const problems = (validate.errors ?? [])
        .map(
          (e) =>
            `${e.instancePath || '(with)'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` "${e.params.additionalProperty}"` : ''}`,
        )
        .join('; ');
      throw new UserError(`augment[${i}] (${ref.use}).with is invalid: ${problems}. Fix the options of this augmentation.`);
    }
    return { use: ref.use, with: options };
  });
}

export interface AugmentEnv {
  seed: number;
  configDir: string;
  runDir: string;
  log: (message: string) => void;
}

export async function createAugmentations(registry: PluginRegistry, refs: PluginRef[], env: AugmentEnv): Promise<Augmentation[]> {
  const chain: Augmentation[] = [];
  // The services a worker can give: seed, folders, log and rng (docs/plugins.md, "Services").
  const container = newServiceContainer();
  registerContextServices(container, env);
  for (const [i, ref] of refs.entries()) {
    const ctx: PluginContext = {
      // Image workers do not load TensorFlow.js (half a second and ~50 MB each); augmentations work
      // on raw pixels. A plugin that reaches for tf gets a clear message instead.
      get tf(): never {
        throw new UserError(
          `augment[${i}] (${ref.use}) uses ctx.tf, which the image pipeline does not provide. ` +
            `Augmentations receive 8-bit RawImage pixels; transform them without TensorFlow.js.`,
        );
      },
      seed: env.seed,
      configDir: env.configDir,
      runDir: env.runDir,
      log: env.log,
      container,
    };
    chain.push(await createPlugin<Augmentation>(registry.get('augment', ref.use, `augment[${i}]: `), ref.with, ctx, `augment[${i}]`));
  }
  return chain;
}

/**
 * Runs the chain on one image. Consecutive affine augmentations (flip, rotate, zoom, affine, or any
 * plugin with `affine`) are composed into one matrix and resampled once, as fastai does: one pass
 * and one interpolation instead of one per plugin. Each still draws its own random numbers in order.
 */
export async function applyAugmentations(chain: Augmentation[], refs: PluginRef[], image: RawImage, rng: Rng): Promise<RawImage> {
  let current = image;
  let pending: AffineDraw | null = null;
  const resample = () => {
    if (pending) current = applyAffineDraw(current, pending);
    pending = null;
  };
  for (const [i, aug] of chain.entries()) {
    if (aug.affine) {
      const draw = aug.affine(rng);
      // A draw without padding takes the other's; two different paddings cannot share one resampling.
      if (pending && pending.padding && draw.padding && pending.padding !== draw.padding) resample();
      pending = pending ? { matrix: multiply(pending.matrix, draw.matrix), padding: pending.padding ?? draw.padding } : draw;
      continue;
    }
    resample();
    const next = await aug.apply(current, rng);
    if (
      next.width !== current.width ||
      next.height !== current.height ||
      next.channels !== current.channels ||
      next.data.length !== current.data.length
    ) {
      throw new UserError(
        `augment[${i}] (${refs[i].use}) returned a ${next.width}×${next.height}×${next.channels} image for a ` +
          `${current.width}×${current.height}×${current.channels} input. Augmentations must keep the image size.`,
      );
    }
    current = next;
  }
  resample();
  return current;
}
