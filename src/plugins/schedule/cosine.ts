import { definePlugin } from '../../framework/plugin.js';
import type { Schedule } from '../../framework/contracts.js';
import { combinedCos } from './curves.js';

/** fastai's fit_flat_cos: the peak rate for pct_flat of the phase, then cosine annealing. */
export const cosineSchedule = definePlugin({
  name: 'cosine',
  kind: 'schedule',
  description: 'flat at the peak rate, then cosine annealing to peak / div_final (fastai fit_flat_cos)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      pct_flat: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 'share of the phase at the peak before annealing' },
      div_final: { type: 'number', exclusiveMinimum: 0, default: 1e5, description: 'final rate = peak / div_final' },
    },
  },
  create: (o): Schedule => ({
    at: (pct, maxLr) => ({ lr: combinedCos(o.pct_flat, maxLr, maxLr, maxLr / o.div_final, pct) }),
  }),
});
