// The learner's view of data (Lightning's DataModule): batches of a split at a given size.
// It wraps the image pipeline so the training loop never sees files, crops or augmentations.
import type { DataSplits } from './contracts.js';
import type { PluginRef } from './experiment.js';
import { ImagePipeline, type Batch, type PipelineOptions } from './pipeline/index.js';

export type { Batch };

export interface DataModule {
  trainBatches(req: { size: number; batchSize: number; epoch: number }): AsyncIterable<Batch>;
  validBatches(req: { size: number; batchSize: number }): AsyncIterable<Batch>;
  trainBatchesPerEpoch(batchSize: number): number;
  /** Images the pipeline could not decode and skipped. */
  skipped(): { path: string; reason: string }[];
  close(): Promise<void>;
}

export class ImageDataModule implements DataModule {
  private readonly pipeline: ImagePipeline;

  constructor(
    private readonly splits: DataSplits,
    private readonly augment: PluginRef[],
    private readonly seed: number,
    private readonly maxStepsPerEpoch: number,
    pipelineOptions: Omit<PipelineOptions, 'badImagePolicy'>,
  ) {
    this.pipeline = new ImagePipeline({ ...pipelineOptions, badImagePolicy: splits.badImagePolicy });
  }

  trainBatchesPerEpoch(batchSize: number): number {
    const n = Math.ceil(this.splits.train.length / batchSize);
    return this.maxStepsPerEpoch > 0 ? Math.min(n, this.maxStepsPerEpoch) : n;
  }

  async *trainBatches(req: { size: number; batchSize: number; epoch: number }): AsyncIterable<Batch> {
    const limit = this.trainBatchesPerEpoch(req.batchSize);
    let count = 0;
    const batches = this.pipeline.epoch({
      samples: this.splits.train,
      size: req.size,
      crop: this.splits.crop,
      batchSize: req.batchSize,
      augment: this.augment,
      seed: this.seed,
      epoch: req.epoch,
      shuffle: true,
    });
    for await (const b of batches) {
      yield b;
      if (++count >= limit) {
        await batches.return(undefined);
        break;
      }
    }
  }

  validBatches(req: { size: number; batchSize: number }): AsyncIterable<Batch> {
    return this.pipeline.epoch({
      samples: this.splits.valid,
      size: req.size,
      crop: this.splits.crop,
      batchSize: req.batchSize,
      augment: [],
      seed: this.seed,
      epoch: 0,
      shuffle: false,
    });
  }

  skipped(): { path: string; reason: string }[] {
    return [...this.splits.skipped, ...this.pipeline.skipped()];
  }

  close(): Promise<void> {
    return this.pipeline.close();
  }
}
