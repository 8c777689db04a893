// How one batch becomes a loss and gradients, or predictions, on the current backend: the batch in
// passes of at most `microBatch` images (gradients add up to the whole batch's), each pass through
// its compiled graph where the backend has one, and a wasm heap overflow turned into a message with
// a batch size that fits. The Learner sees only `train` and `predict`.
import * as tf from '@tensorflow/tfjs';
import type { LossFn } from './contracts.js';
import type { Batch } from './data-module.js';
import { batchMemoryError, isWasmOutOfMemory } from '../runtime/backend.js';
import { deriveSeed } from '../base/random.js';
import { withSeededRandom } from '../runtime/math-random-scope.js';
import { type CompiledPasses, compiledPassesFor, predictWith } from '../runtime/traced-pass.js';

/** Where a pass runs in the fit: seeds its dropout noise, keys its graph, names it in messages. */
export interface PassPosition {
  phaseIndex: number;
  epoch: number;
  batchInEpoch: number;
  /** The phase's batch size and its config key, for memory messages. */
  batchSize: number;
  batchSizeKey: string;
}

export class PassExecutor {
  /**
   * Images per forward/backward pass (null: the whole batch). Set by memoryPlanCallback when a
   * batch does not fit the backend's memory: the batch then runs as several passes.
   */
  microBatch: number | null = null;
  /** Images per prediction pass in validation (null: the whole validation batch). */
  validMicroBatch: number | null = null;
  /** Null where the backend compiles none, or with `compile: false`. */
  private readonly compiled: CompiledPasses | null;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly loss: LossFn,
    private readonly opts: { seed: number; accumulate: number; compile: boolean; log: (message: string) => void },
  ) {
    this.compiled = opts.compile ? compiledPassesFor(tf.getBackend(), opts.log) : null;
  }

  /** Forward and backward over a batch: its loss and the gradient of each of `trainable` (by tfjs name). */
  train(batch: Batch, trainable: tf.Variable[], at: PassPosition): { loss: number; grads: tf.NamedTensorMap } {
    const width = batch.y!.length / batch.n;
    const unknown = maskUnknownCells(batch.y!);
    let loss = 0;
    let grads: tf.NamedTensorMap | null = null;
    withSeededRandom(deriveSeed(this.opts.seed, at.epoch, at.batchInEpoch), () => {
      for (const [start, n] of passes(batch.n, this.microBatch)) {
        const rows = <T extends Float32Array>(a: T) => a.subarray(start * width, (start + n) * width);
        const value = this.guardMemory(at.batchSize, batch.size, at, () =>
          tf.tidy(() => {
            const x = tf.tensor4d(images(batch, start, n), [n, batch.size, batch.size, 3]);
            const y = tf.tensor2d(unknown ? rows(unknown.filled) : rows(batch.y!), [n, width]);
            const w = unknown && tf.tensor2d(rows(unknown.weights), [n, width]);
            const eager = () =>
              tf.variableGrads(() => {
                const pred = this.model.apply(x, { training: true }) as tf.Tensor;
                // Masked weights already sum to the pass's share of the batch; a plain pass's mean
                // is weighted by its share, so the passes' gradients add up to the whole batch's.
                const l = this.loss(tf, y, pred, w);
                return w || n === batch.n ? l : l.mul(n / batch.n);
              }, trainable);
            // A graph per phase, shape and loss (masked or not).
            const key = `${at.phaseIndex}/${n}/${batch.n}/${batch.size}${w ? '/masked' : ''}`;
            const result = this.compiled ? this.compiled.run(key, w ? [x, y, w] : [x, y], eager) : eager();
            grads = addInto(grads, result.grads);
            return result.value;
          }),
        );
        loss += (value.dataSync() as Float32Array)[0];
        value.dispose();
      }
    });
    return { loss, grads: grads! };
  }

  /** Predictions for a batch, row after row (batch.n × outputs). */
  predict(batch: Batch, at: PassPosition): Float32Array {
    const parts = passes(batch.n, this.validMicroBatch).map(([start, n]) =>
      this.guardMemory(n, batch.size, at, () =>
        tf.tidy(
          () =>
            predictWith(this.compiled, this.model, tf.tensor4d(images(batch, start, n), [n, batch.size, batch.size, 3])).dataSync() as Float32Array,
        ),
      ),
    );
    return parts.length === 1 ? parts[0] : concatFloat32(parts);
  }

  /** Frees compiled graphs (a resumed fit records afresh). */
  dispose(): void {
    this.compiled?.dispose();
  }

  /** A batch that overflows the wasm heap becomes a message with a batch size that fits. */
  private guardMemory<T>(batchSize: number, size: number, at: PassPosition, step: () => T): T {
    try {
      return step();
    } catch (e) {
      if (tf.getBackend() !== 'wasm' || !isWasmOutOfMemory(e)) throw e;
      throw batchMemoryError({ batchSize, accumulate: this.opts.accumulate, size, batchSizeKey: at.batchSizeKey });
    }
  }
}

/** Sums a pass's gradients into the batch's so far (kept across tidy scopes). */
function addInto(sum: tf.NamedTensorMap | null, grads: tf.NamedTensorMap): tf.NamedTensorMap {
  if (!sum) return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.keep(g)]));
  for (const [k, g] of Object.entries(grads)) {
    const next = tf.keep(sum[k].add(g));
    sum[k].dispose();
    sum[k] = next;
  }
  return sum;
}

/**
 * Labels with unknown cells (NaN: a partial catalogue's empty cells) are trained on their known
 * cells only: the loss is the mean squared error over the batch's known cells, as a weighted sum
 * (weight 1/known per known cell, 0 per unknown one) so that passes over parts of the batch add up
 * to the whole batch's loss. Unknown cells are filled with 0 (their weight is 0, and a NaN would
 * poison the gradient through 0·NaN). Null when every cell is known: such batches keep the plain
 * mean squared error, bit for bit.
 */
export function maskUnknownCells(y: Float32Array): { filled: Float32Array; weights: Float32Array } | null {
  let known = 0;
  for (let i = 0; i < y.length; i++) if (!Number.isNaN(y[i])) known += 1;
  if (known === y.length) return null;
  const filled = new Float32Array(y.length);
  const weights = new Float32Array(y.length);
  const weight = known > 0 ? 1 / known : 0;
  for (let i = 0; i < y.length; i++) {
    if (Number.isNaN(y[i])) continue;
    filled[i] = y[i];
    weights[i] = weight;
  }
  return { filled, weights };
}

/** Pixels of images start … start+n−1 of a batch (a view, no copy). */
function images(batch: Batch, start: number, n: number): Float32Array {
  const per = batch.size * batch.size * 3;
  return n === batch.n ? batch.x : batch.x.subarray(start * per, (start + n) * per);
}

/** [start, count] of each pass over a batch of n in passes of at most `micro` (null: one pass). */
function passes(n: number, micro: number | null): [number, number][] {
  const size = micro && micro < n ? micro : n;
  const out: [number, number][] = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(size, n - start)]);
  return out;
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
