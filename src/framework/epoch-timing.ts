// How long an epoch trained and how much of that it waited for the next batch (data_wait_pct):
// the share a faster model cannot win back. A default callback of every Learner, in two halves so
// that a batch's wait runs from the end of the previous batch's callbacks to the start of its own.
import type { Callback, Learner } from './learner.js';

export function epochTimingCallbacks(): Callback[] {
  let trainStart = 0;
  let ready = 0;
  let waited = 0;
  const now = () => performance.now();
  return [
    {
      name: 'epoch-timing',
      order: -1000,
      beforeEpoch: () => {
        trainStart = ready = now();
        waited = 0;
      },
      beforeBatch: () => {
        waited += now() - ready;
      },
    },
    {
      name: 'epoch-timing-end',
      order: 1000,
      afterBatch: () => {
        ready = now();
      },
      beforeValidate: (l: Learner) => {
        const s = l.state;
        s.epochTrainMs = now() - trainStart;
        s.epochDataWaitMs = waited + (now() - ready); // the wait for the end of the data
        if (s.epochTrainMs > 0) s.metrics.data_wait_pct = (100 * s.epochDataWaitMs) / s.epochTrainMs;
      },
    },
  ];
}
