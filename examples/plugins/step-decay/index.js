// gzx schedule plugin: step decay. The classic ImageNet recipe: train at the peak rate, then divide
// it by `factor` at fixed points of the phase. Plain ESM JavaScript with the schema inline.

export const stepDecay = {
  name: 'step-decay',
  kind: 'schedule',
  description: 'The peak rate, divided by factor at each milestone (fractions of the phase).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      milestones: {
        type: 'array',
        items: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        uniqueItems: true,
        default: [0.5, 0.75],
        description: 'Fractions of the phase at which the rate drops (any order).',
      },
      factor: {
        type: 'number',
        exclusiveMinimum: 1,
        default: 10,
        description: 'Each drop divides the rate by this.',
      },
    },
  },
  create({ milestones, factor }) {
    return {
      // Momentum is left to the optimiser (undefined), unlike one-cycle.
      at(pct, maxLr) {
        const drops = milestones.filter((m) => pct >= m).length;
        return { lr: maxLr / factor ** drops };
      },
    };
  },
};

export const plugins = [stepDecay];
