// A backend may run the training pass (forward, loss, gradients) as one compiled graph instead of
// op by op: it records the ops of two eager passes, checks they are the same computation, and
// replays them (tensorflow: src/core/native-kernels/pass-graph.ts). Everything a pass's JavaScript
// makes afresh each step besides the batch (random noise) must be declared with perStepInput, or the
// graph would replay the traced step's values; values that still differ between the two recorded
// passes refuse compilation (never silently wrong).
import type * as tf from '@tensorflow/tfjs';

/** What a training pass returns: its loss and the gradient of each trainable variable (by tfjs name). */
export interface PassResult {
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
}

/** A compiled pass: runs the recorded computation on new inputs (in the order traced). */
export interface CompiledPass {
  run(inputs: tf.Tensor[]): PassResult;
  dispose(): void;
}

/** One recorded eager pass, or why it cannot be recorded. */
export type Recording = { ok: true; signature: string } | { ok: false; reason: string };

export interface PassCompiler {
  /** Runs `pass` eagerly on `inputs`, recording its ops. */
  record(inputs: tf.Tensor[], pass: () => PassResult): { result: PassResult; recording: Recording };
  /** A graph from two recordings of the same computation, or why not. */
  compile(first: Recording, second: Recording): CompiledPass | string;
}

const compilers = new Map<string, () => PassCompiler>();

/** Lets a backend compile training passes (null: it does not). */
export function registerPassCompiler(backend: string, factory: (() => PassCompiler) | null): void {
  if (factory) compilers.set(backend, factory);
  else compilers.delete(backend);
}

export function passCompilerFor(backend: string): PassCompiler | null {
  return compilers.get(backend)?.() ?? null;
}

/** A per-step input declared while a pass is recorded: its tensor then and how to make the next. */
export interface PerStepInput {
  tensor: tf.Tensor;
  make: () => tf.Tensor;
}

let declared: PerStepInput[] | null = null;

/** Whether a pass is being recorded (layers then avoid kernels that read values into JavaScript). */
export function isRecordingPass(): boolean {
  return declared !== null;
}

/**
 * A tensor the pass makes afresh every step (dropout's noise): while a pass is recorded, `make`
 * is kept so a compiled pass calls it again each step, in the same order.
 */
export function perStepInput<T extends tf.Tensor>(make: () => T): T {
  const tensor = make();
  declared?.push({ tensor, make });
  return tensor;
}

/** Runs fn with per-step inputs collected (for a PassCompiler's recording). */
export function collectPerStepInputs<T>(fn: () => T): { result: T; inputs: PerStepInput[] } {
  const outer = declared;
  declared = [];
  try {
    const result = fn();
    return { result, inputs: declared };
  } finally {
    declared = outer;
  }
}
