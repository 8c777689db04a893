// Keeps the model of the best epoch by a metric (Lightning's ModelCheckpoint(save_top_k=1)):
// `runs/<id>/best-model/`, which `gzx predict -m runs/<id>/best-model` reads like a run's model.
import path from 'node:path';
import { definePlugin } from '../../framework/plugin.js';
import type { Callback } from '../../framework/learner.js';
import { saveModel } from '../../framework/model-io.js';
import { MONITOR_SCHEMA, Monitor } from './monitor.js';

export const saveBestCallback = definePlugin({
  name: 'save-best',
  kind: 'callback',
  description: 'saves the model of the best epoch by a metric (valid_rmse) to runs/<id>/best-model',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...MONITOR_SCHEMA,
      dir: { type: 'string', pattern: '^[^/\\\\]+$', default: 'best-model', description: 'folder inside the run folder' },
    },
  },
  create: (o, ctx): Callback => {
    const monitor = new Monitor(o, 'save-best');
    const dir = path.join(ctx.runDir, o.dir);
    return {
      name: 'save-best',
      afterEpoch: async (l) => {
        const epoch = l.state.epoch + 1;
        if (!monitor.update(monitor.read(l.state.metrics), epoch)) return;
        await saveModel(l.model, dir); // written aside, then renamed: never half a model
        ctx.log(`best model so far (${o.monitor} ${monitor.best!.toPrecision(4)}, epoch ${epoch}) saved to ${dir}`);
      },
    };
  },
});
