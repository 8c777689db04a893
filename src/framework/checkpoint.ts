// Per-epoch checkpoints: weights, optimiser state, schedule position, seeds and data order,
// written to a temporary folder and renamed into place so a kill never leaves a torn checkpoint.
import fs from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Optimizer } from './optimizers.js';
import { restoreWeights, writeModelFiles } from './model-io.js';
import { replaceDirAtomic } from '../base/safe-write.js';
import type { StartPoint } from './learner.js';
import { deriveSeed } from '../base/random.js';
import type { CheckpointStore } from './services.js';

export const CHECKPOINT_DIR = 'checkpoint';

export interface CheckpointState extends StartPoint {
  /** Epochs completed over all phases. */
  epoch: number;
  seed: number;
  /** Seed of the next epoch's shuffle (derived from seed and epoch; recorded for inspection). */
  nextDataOrderSeed: number;
  /** Lines of metrics.jsonl that belong to completed epochs; resume truncates after them. */
  metricsLines: number;
  optimizer: {
    /** Each weight's optimiser step count (Adam's debiasing), by variable key; integers, so exact in JSON. */
    steps?: Record<string, number>;
    /** Checkpoints before per-weight counts: one count for every weight. */
    step?: number;
    slots: { name: string; slot: string; offset: number; length: number }[];
  };
  savedAt: string;
}

export async function writeCheckpoint(
  runDir: string,
  model: tf.LayersModel,
  optimizer: Optimizer,
  position: Omit<CheckpointState, 'optimizer' | 'savedAt' | 'nextDataOrderSeed'>,
): Promise<void> {
  const opt = await optimizer.getState();
  const index: CheckpointState['optimizer']['slots'] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, perVar] of Object.entries(opt.slots)) {
    for (const [slot, values] of Object.entries(perVar)) {
      index.push({ name, slot, offset, length: values.length });
      chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
      offset += values.length;
    }
  }
  const state: CheckpointState = {
    ...position,
    nextDataOrderSeed: deriveSeed(position.seed, position.epoch),
    optimizer: { steps: opt.steps, slots: index },
    savedAt: new Date().toISOString(),
  };
  // Built in checkpoint.tmp/ and swapped in: the old checkpoint goes only once the new one is complete
  // (checkpoint.old/ meanwhile), and a failed write removes checkpoint.tmp/.
  await replaceDirAtomic(path.join(runDir, CHECKPOINT_DIR), async (write) => {
    await writeModelFiles(model, (rel, data) => write(path.join('model', rel), data));
    await write('optimizer.bin', Buffer.concat(chunks));
    await write('state.json', JSON.stringify(state, null, 2));
  });
}

/** The folder holding the last complete checkpoint: `checkpoint/`, or `checkpoint.old/` if killed mid-swap. */
async function completeCheckpointDir(runDir: string): Promise<string | null> {
  for (const dir of [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    const full = path.join(runDir, dir);
    try {
      await fs.access(path.join(full, 'state.json'));
      return full;
    } catch {
      /* try the next */
    }
  }
  return null;
}

export async function readCheckpointState(runDir: string): Promise<CheckpointState | null> {
  const dir = await completeCheckpointDir(runDir);
  return dir ? (JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as CheckpointState) : null;
}

/** Loads weights and optimiser state into a freshly built model; returns where to continue. */
export async function restoreCheckpoint(
  runDir: string,
  model: tf.LayersModel,
  optimizer: Optimizer,
  variables: Map<string, tf.Variable>,
): Promise<CheckpointState | null> {
  const dir = await completeCheckpointDir(runDir);
  if (!dir) return null;
  const state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as CheckpointState;
  await restoreWeights(model, path.join(dir, 'model'));
  const bin = await fs.readFile(path.join(dir, 'optimizer.bin'));
  const all = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4);
  const slots: Record<string, Record<string, Float32Array>> = {};
  for (const s of state.optimizer.slots) {
    (slots[s.name] ??= {})[s.slot] = all.slice(s.offset, s.offset + s.length);
  }
  optimizer.setState({ steps: state.optimizer.steps ?? legacySteps(state.optimizer.step ?? 0, slots), slots }, variables);
  return state;
}

/** The default `checkpointStore` service: one checkpoint folder, replaced atomically after each epoch. */
export const fileCheckpointStore: CheckpointStore = {
  write: writeCheckpoint,
  read: readCheckpointState,
  restore: restoreCheckpoint,
};

/**
 * A checkpoint written before per-weight step counts kept one global count: every weight with
 * optimiser state continues from it, as it would have in the run that wrote it.
 */
function legacySteps(step: number, slots: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.keys(slots).map((name) => [name, step]));
}
