import { definePlugin } from '../../framework/plugin.js';
import type { Schedule } from '../../framework/contracts.js';
import { combinedCos } from './curves.js';

/** fastai's fit_one_cycle: lr warms from max/div to max over pct_start, then anneals to max/div_final. */
export const oneCycleSchedule = definePlugin({
  name: 'one-cycle',
  kind: 'schedule',
  description: "fastai's one-cycle: cosine warm-up to the peak rate, cosine annealing down; momentum mirrors it",
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      pct_start: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.25, description: 'share of the phase spent warming up' },
      div: { type: 'number', exclusiveMinimum: 0, default: 25, description: 'starting rate = peak / div' },
      div_final: { type: 'number', exclusiveMinimum: 0, default: 1e5, description: 'final rate = peak / div_final' },
      moms: {
        type: 'array',
        items: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
        minItems: 3,
        maxItems: 3,
        default: [0.95, 0.85, 0.95],
        description: 'momentum (or Adam beta1) at start, at the peak, at the end',
      },
    },
  },
  create: (o): Schedule => ({
    at: (pct, maxLr) => ({
      lr: combinedCos(o.pct_start, maxLr / o.div, maxLr, maxLr / o.div_final, pct),
      momentum: combinedCos(o.pct_start, o.moms[0], o.moms[1], o.moms[2], pct),
    }),
  }),
});
