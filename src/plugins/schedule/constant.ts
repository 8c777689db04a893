import { definePlugin } from '../../framework/plugin.js';
import type { Schedule } from '../../framework/contracts.js';

export const constantSchedule = definePlugin({
  name: 'constant',
  kind: 'schedule',
  description: 'the peak rate for the whole phase (fastai fit)',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: (): Schedule => ({ at: (_pct, maxLr) => ({ lr: maxLr }) }),
});
