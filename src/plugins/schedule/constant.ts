import { definePlugin } from '../../core/plugin.js';
import type { Schedule } from '../../core/contracts.js';

export const constantSchedule = definePlugin<Record<string, never>, Schedule>({
  name: 'constant',
  kind: 'schedule',
  description: 'the peak rate for the whole phase (fastai fit)',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: () => ({ at: (_pct, maxLr) => ({ lr: maxLr }) }),
});
