// Fitting batches into the wasm backend's heap. wasm memory is one linear heap of at most 4 GB that
// cannot recover once an allocation fails, so the batch that fits has to be known before training,
// not found by failing. A training step's memory is close to linear in the batch: fixed (weights,
// gradients) plus per image (the activations kept for the backward pass; ~0.56 GB per 224-px image
// for ResNet50). Two measured steps, on one and two blank images, give both terms.
import { UserError } from '../base/errors.js';

/** The wasm heap's hard limit (tfjs-backend-wasm is built with a 4 GB - 64 KB maximum). */
export const WASM_HEAP_BYTES = 4294901760;
/** Share of the heap a plan may use: the rest covers fragmentation and kernel scratch space the probe does not see. */
export const HEAP_HEADROOM = 0.85;

/** Peak bytes in use during one step on `n` images (weights and everything else already allocated included). */
export type MemoryProbe = (n: number) => Promise<number>;

export interface MicroBatchPlan {
  /** Images per forward/backward pass; the batch is split into ceil(batch / micro) such passes. */
  micro: number;
  passes: number;
  /** Estimated peak bytes of one pass of `micro` images. */
  peakBytes: number;
  bytesPerImage: number;
}

/**
 * The largest micro-batch (an even split of `batchSize`) whose estimated peak, plus `reserveBytes`
 * the probe cannot see (optimiser state made at the first step, the accumulated gradients), fits
 * `budgetBytes`. Returns null if one image does not fit. Never probes a batch that might not fit.
 */
export async function planMicroBatch(
  batchSize: number,
  probe: MemoryProbe,
  budgetBytes: number,
  reserveBytes: number,
): Promise<MicroBatchPlan | null> {
  const measuredOne = await probe(1);
  const one = measuredOne + reserveBytes;
  if (one > budgetBytes) return null;
  // Two images need at most twice what one does (the fixed part is counted twice).
  if (batchSize === 1 || 2 * measuredOne + reserveBytes > budgetBytes) return split(batchSize, 1, one, measuredOne);
  const two = (await probe(2)) + reserveBytes;
  const perImage = Math.max(two - one, 1);
  const fixed = one - perImage;
  const fits = Math.max(1, Math.floor((budgetBytes - fixed) / perImage));
  const plan = split(batchSize, Math.min(batchSize, fits), 0, perImage);
  return { ...plan, peakBytes: fixed + plan.micro * perImage };
}

/** Splits the batch into equal passes no larger than `most` (8 + 8 rather than 10 + 6). */
function split(batchSize: number, most: number, peakBytes: number, bytesPerImage: number): MicroBatchPlan {
  const passes = Math.ceil(batchSize / most);
  return { micro: Math.ceil(batchSize / passes), passes, peakBytes, bytesPerImage };
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GB`;

/** One line for the run log saying what was chosen and why. */
export function describePlan(plan: MicroBatchPlan, batchSize: number, size: number, what: 'training' | 'validation'): string {
  if (plan.passes === 1) {
    return `wasm heap: ${what} batch of ${batchSize} at ${size} px fits (about ${gib(plan.peakBytes)} of 4 GB)`;
  }
  return (
    `wasm heap: a ${what} batch of ${batchSize} at ${size} px would need about ${gib(plan.bytesPerImage * batchSize)} ` +
    `(${gib(plan.bytesPerImage)} per image) of the 4 GB heap; running it as ${plan.passes} passes of ${plan.micro}` +
    (what === 'training' ? ' with gradients accumulated (same effective batch; batch norm sees each pass separately)' : '')
  );
}

/** The error for a phase whose single image does not fit. */
export function imageTooLargeError(phaseKey: string, size: number, bytes: number): UserError {
  return new UserError(
    `${phaseKey}: training on one ${size}-px image needs about ${gib(bytes)}, more than the wasm backend's 4 GB heap holds. ` +
      `Lower ${phaseKey}.size, or train on the tensorflow backend, which has no such limit ` +
      `(\`npm run setup:native\`, docs/native.md; then backend: auto).`,
  );
}
