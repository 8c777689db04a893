// A DataModule over image files: wraps the image pipeline (decoding, cropping, resizing,
// augmenting in worker threads) for the Learner.
import type { DataSplits } from '../framework/contracts.js';
import type { PluginRef } from '../framework/experiment-config.js';
import type { Batch, DataModule } from '../framework/data-module.js';
import { ImagePipeline, type PipelineOptions } from './pipeline/index.js';

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
