// An in-memory DataModule for learner tests: fixed random images whose labels are a function of them.
import type { Batch, DataModule } from '../../src/framework/data-module.js';
import { SeededRng } from '../../src/base/random.js';
import { normaliseAnswers } from '../../src/galaxy/tree.js';

export class MemoryData implements DataModule {
  readonly images: Float32Array[] = [];
  readonly labels: Float32Array[] = [];

  constructor(
    readonly count: number,
    readonly maxSize = 48,
    seed = 1,
    private readonly poisonLabelsAtEpoch: number | null = null,
  ) {
    const rng = new SeededRng(seed);
    for (let i = 0; i < count; i++) {
      const brightness = rng.next();
      const img = new Float32Array(maxSize * maxSize * 3).map(() => brightness * 0.7 + 0.3 * rng.next());
      this.images.push(img);
      const raw = Array.from({ length: 37 }, (_, c) => (c % 3 === 0 ? brightness : 1 - brightness) + 0.05);
      this.labels.push(Float32Array.from(normaliseAnswers([raw])[0]));
    }
  }

  trainBatchesPerEpoch(batchSize: number): number {
    return Math.ceil(this.count / batchSize);
  }

  async *trainBatches(req: { size: number; batchSize: number; epoch: number }): AsyncIterable<Batch> {
    yield* this.batches(req.size, req.batchSize, req.epoch === this.poisonLabelsAtEpoch);
  }

  async *validBatches(req: { size: number; batchSize: number }): AsyncIterable<Batch> {
    yield* this.batches(req.size, req.batchSize, false);
  }

  private *batches(size: number, batchSize: number, poison: boolean): Generator<Batch> {
    for (let start = 0, index = 0; start < this.count; start += batchSize, index++) {
      const n = Math.min(batchSize, this.count - start);
      const x = new Float32Array(n * size * size * 3);
      const y = new Float32Array(n * 37);
      for (let i = 0; i < n; i++) {
        // Nearest-neighbour crop of the stored image to the requested size.
        const src = this.images[start + i];
        for (let r = 0; r < size; r++)
          for (let c = 0; c < size; c++)
            for (let ch = 0; ch < 3; ch++) {
              const sr = Math.floor((r * this.maxSize) / size);
              const sc = Math.floor((c * this.maxSize) / size);
              x[((i * size + r) * size + c) * 3 + ch] = src[(sr * this.maxSize + sc) * 3 + ch];
            }
        y.set(this.labels[start + i], i * 37);
      }
      // A NaN pixel, not a NaN label: a NaN label cell is an unknown answer, which the loss skips.
      if (poison) x[0] = NaN;
      yield { x, y, ids: [], n, size, index };
    }
  }

  skipped() {
    return [];
  }

  async close(): Promise<void> {}
}
