// Worker thread entry: builds batches for the main thread's ImagePipeline.
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { BatchMaker, type BatchJob } from './batch.js';
import { CacheView, type CacheSlab } from './cache.js';
import { loadAugmentRegistry } from './augmentations.js';
import { serializeError, type WorkerInit } from './messages.js';

if (!parentPort) throw new Error('pipeline worker.js must run as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;

// Parallelism comes from the workers (TurboJPEG decodes in the worker's own thread) and, for the
// images sharp still decodes, several in flight on libuv's pool; libvips threads inside one small
// image only add contention on 2 cores. This setting is process-wide, which is what we want.
sharp.concurrency(1);

const cache = new CacheView();
const maker = loadAugmentRegistry(init.pluginModules, init.configDir).then(
  (registry) =>
    new BatchMaker(
      registry,
      { configDir: init.configDir, runDir: init.runDir, log: (message) => port.postMessage({ type: 'log', message }) },
      cache,
      init.badImagePolicy,
    ),
);
maker.catch(() => {}); // reported per job below

port.on('message', async (msg: { type: 'slab'; slab: CacheSlab } | { type: 'job'; jobId: number; job: BatchJob }) => {
  if (msg.type === 'slab') {
    cache.addSlab(msg.slab);
    return;
  }
  try {
    const result = await (await maker).make(msg.job);
    port.postMessage({ type: 'result', jobId: msg.jobId, result }, [result.x.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ type: 'error', jobId: msg.jobId, error: serializeError(e) });
  }
});
