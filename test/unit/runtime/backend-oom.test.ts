// A batch that does not fit the 4 GB wasm heap must end in one clear UserError, not a crash.
// Its own file: the wasm module is unusable after exhausting its heap.
import { expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, withBatchMemoryGuard } from '../../../src/runtime/backend.js';
import { UserError } from '../../../src/base/errors.js';

it('exhausting the wasm heap becomes a UserError with a batch size and accumulation that fit', async () => {
  await selectBackend('wasm', () => {});
  const kept: tf.Tensor[] = [];
  const err = await withBatchMemoryGuard({ batchSize: 64, accumulate: 1, size: 256 }, () => {
    // Five 1 GiB activations, as a too-large batch would hold for backprop: more than the heap.
    let activation = tf.fill([64, 256, 256, 64], 1);
    for (let layer = 0; layer < 5; layer++) {
      activation = tf.add(activation, 1);
      kept.push(activation);
    }
    return activation.shape;
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as UserError).message;
  expect(msg).toContain('ran out of its 4 GB heap on a batch of 64 images at 256 px');
  expect(msg).toContain('Set train.batch_size: 32 and train.accumulate: 2 (same effective batch of 64)');
});
