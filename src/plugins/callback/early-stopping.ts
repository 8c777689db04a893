// Stops a fit when the watched metric has not improved for `patience` epochs (Lightning's
// EarlyStopping): the fit ends as finished, with its model and checkpoint, and the run says why.
import { definePlugin } from '../../framework/plugin.js';
import type { Callback } from '../../framework/learner.js';
import { MONITOR_SCHEMA, Monitor } from './monitor.js';

export const earlyStoppingCallback = definePlugin({
  name: 'early-stopping',
  kind: 'callback',
  description: 'ends the fit when a metric (valid_rmse) has not improved for `patience` epochs',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...MONITOR_SCHEMA,
      patience: { type: 'integer', minimum: 1, default: 3, description: 'epochs without improvement before stopping' },
    },
  },
  create: (o): Callback => {
    const monitor = new Monitor(o, 'early-stopping');
    return {
      name: 'early-stopping',
      afterEpoch: (l) => {
        const epoch = l.state.epoch + 1;
        const value = monitor.read(l.state.metrics);
        if (monitor.update(value, epoch) || epoch - monitor.bestEpoch < o.patience) return;
        l.requestStop(
          `${o.monitor} has not improved for ${o.patience} epoch${o.patience === 1 ? '' : 's'} ` +
            `(best ${monitor.best!.toPrecision(4)} at epoch ${monitor.bestEpoch}; early-stopping, patience ${o.patience})`,
        );
      },
    };
  },
});
