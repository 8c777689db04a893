// Clips the step's gradients to a maximum global L2 norm (Lightning's gradient_clip_val with
// "norm", torch.nn.utils.clip_grad_norm_): every gradient is scaled by max_norm / norm when the
// norm of all of them together exceeds max_norm.
import { definePlugin } from '../../framework/plugin.js';
import type { Callback } from '../../framework/learner.js';

export const gradientClippingCallback = definePlugin({
  name: 'gradient-clipping',
  kind: 'callback',
  description: "scales each step's gradients down to a maximum global L2 norm",
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['max_norm'],
    properties: {
      max_norm: { type: 'number', exclusiveMinimum: 0, description: 'largest global L2 norm of the gradients' },
    },
  },
  create: (o, ctx): Callback => ({
    name: 'gradient-clipping',
    beforeStep: (l) => {
      const grads = l.state.gradients!;
      const tf = ctx.tf;
      const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
      if (!(norm > o.max_norm)) return;
      const scale = o.max_norm / norm;
      // The Learner disposes the gradients it handed out and any that replace them.
      l.state.gradients = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)]));
    },
  }),
});
