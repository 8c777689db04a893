// `gzx weights`: what a weights file holds, and how it would load into a config's backbone,
// without training anything (a wrong file is cheaper to find here than an hour into a run).
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../runtime/backend.js';
import type { Backbone } from '../../framework/contracts.js';
import { UserError } from '../../base/errors.js';
import type { PluginContext } from '../../framework/plugin.js';
import type { PluginRegistry } from '../../framework/registry.js';
import { createPlugin, newServiceContainer, registerContextServices } from '../../framework/services.js';
import type { ResolvedExperiment } from '../../framework/config/load.js';
import { loadWeightsByName, readWeightFile } from './index.js';

/** Format, layer count and each layer's variables with shapes (the first `limit` layers). */
export async function describeWeightSource(source: string, limit: number): Promise<string[]> {
  const file = await readWeightFile(source);
  let values = 0;
  for (const ws of file.layers.values()) for (const w of ws) values += w.values.length;
  const lines = [`${file.source}: ${file.format}, ${file.layers.size} layers with weights, ${values.toLocaleString('en')} values`];
  let shown = 0;
  for (const [layer, ws] of file.layers) {
    if (shown++ >= limit) {
      lines.push(`  … (${file.layers.size - limit} more; --all lists every layer)`);
      break;
    }
    lines.push(`  ${layer}: ${ws.map((w) => `${w.name} [${w.shape.join(',')}]`).join(', ')}`);
  }
  return lines;
}

/**
 * Builds the config's backbone and loads `source` (default: its `backbone.with.pretrained`) into it
 * the way `gzx run` does: through the backbone's own `loadPretrained` when it has one (resnet maps
 * the 2017 ResNet50 names there), else by layer name. Throws a UserError when not one layer loads.
 */
export async function checkBackboneWeights(
  resolved: ResolvedExperiment,
  registry: PluginRegistry,
  source: string | undefined,
  log: (line: string) => void,
): Promise<void> {
  const { config } = resolved;
  const configured = config.backbone.with['pretrained'];
  const target = source !== undefined ? path.resolve(source) : typeof configured === 'string' ? path.resolve(resolved.configDir, configured) : null;
  if (!target) {
    throw new UserError(
      `${resolved.where('backbone.with.pretrained')}: backbone.with.pretrained is not set, so there is no weights file to check. ` +
        `Set it in the config or pass the file: gzx weights <file> --config ${path.relative(process.cwd(), resolved.configPath)}.`,
    );
  }
  await selectBackend(config.backend, () => {}, config.threads);
  const ctx: PluginContext = {
    tf,
    seed: config.seed,
    runDir: resolved.configDir,
    configDir: resolved.configDir,
    log: () => {},
    container: newServiceContainer(),
  };
  registerContextServices(ctx.container, ctx);
  const def = registry.get('backbone', config.backbone.use, 'backbone: ');
  const options = { ...config.backbone.with };
  const hasPretrainedOption = 'pretrained' in options;
  if (hasPretrainedOption) options['pretrained'] = target;
  const backbone = await createPlugin<Backbone>(def, options, ctx, 'backbone');
  const built = backbone.build(tf);
  const model = tf.model({ inputs: built.inputs, outputs: built.features });
  try {
    if (hasPretrainedOption && backbone.loadPretrained) {
      await backbone.loadPretrained(model, log);
      return;
    }
    const report = await loadWeightsByName(model, target, log, { layers: built.layerGroups.flat() });
    if (report.matched.length === 0) {
      throw new UserError(
        `${target}: not one layer of backbone ${config.backbone.use} matches this file by name and shape. ` +
          `Use weights made for this backbone (see docs/pretrained.md).`,
      );
    }
  } finally {
    model.dispose();
  }
}
