// The learner's view of data (Lightning's DataModule): batches of a split at a given size, so the
// training loop never sees files, crops or augmentations (src/vision/image-data-module.ts makes them
// from images).

/** One batch: images and, for labelled samples, their targets. */
export interface Batch {
  /** n*size*size*3, RGB in [0,1], NHWC. */
  x: Float32Array;
  /** n*37 labels, or null when the samples have none. */
  y: Float32Array | null;
  ids: string[];
  n: number;
  size: number;
  /** Batch number within the epoch (unchanged by startBatch or skipped images). */
  index: number;
}

export interface DataModule {
  trainBatches(req: { size: number; batchSize: number; epoch: number }): AsyncIterable<Batch>;
  validBatches(req: { size: number; batchSize: number }): AsyncIterable<Batch>;
  trainBatchesPerEpoch(batchSize: number): number;
  /** Images the pipeline could not decode and skipped. */
  skipped(): { path: string; reason: string }[];
  close(): Promise<void>;
}
