// gzx callback plugin: loss spikes. Watches each step's training loss and, when one is more than
// `factor` times the running average, says so with the phase, epoch, step and learning rate —
// the usual first sign that a rate is too high. Plain ESM JavaScript; imports nothing from gzx.

export const lossSpikes = {
  name: 'loss-spikes',
  kind: 'callback',
  description: 'says when a step loss jumps above factor x its running average (a rate too high?)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      factor: { type: 'number', exclusiveMinimum: 1, default: 3, description: 'how many times the running average counts as a spike' },
      warmup: { type: 'integer', minimum: 1, default: 10, description: 'steps averaged before spikes are looked for' },
    },
  },
  // ctx.log prints through the run's console; the callback's events get the Learner.
  create({ factor, warmup }, ctx) {
    let average = 0;
    let seen = 0;
    return {
      name: 'loss-spikes',
      afterBatch(learner) {
        const s = learner.state;
        if (seen >= warmup && s.loss > factor * average) {
          ctx.log(
            `loss spike: ${s.loss.toFixed(4)} against a running average of ${average.toFixed(4)} ` +
              `(phase ${s.phaseIndex + 1}, epoch ${s.epochInPhase + 1}, step ${s.batchInEpoch + 1}, lr ${s.lr.toExponential(2)})`,
          );
        }
        seen += 1;
        average += (s.loss - average) / Math.min(seen, 20);
      },
    };
  },
};

export const plugins = [lossSpikes];
