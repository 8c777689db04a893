// A backend may run the training pass (forward, loss, gradients) as one compiled graph instead of
// op by op: it records the ops of two eager passes, checks they are the same computation, and
// replays them (tensorflow: src/runtime/native/pass-graph.ts). Everything a pass's JavaScript
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

/** Recordings tried before a pass that keeps differing stays op by op. */
const MAX_RECORDINGS = 3;

/** One key's passes: recordings so far, then the graph or why not. */
interface PassSlot {
  recordings: Recording[];
  compiled?: CompiledPass;
  refused?: string;
}

/**
 * Passes by key (a phase and batch shape): the first two recorded while they run eagerly, the graph
 * built at the third (a phase of two steps never pays for one) and used from then on; a pass that
 * cannot be compiled, or whose graph fails, stays eager. `log` hears once which ran and why.
 */
export class CompiledPasses {
  private readonly slots = new Map<string, PassSlot>();
  private readonly said = new Set<string>();

  constructor(
    private readonly compiler: PassCompiler,
    private readonly backend: string,
    private readonly log: (message: string) => void,
  ) {}

  run(key: string, inputs: tf.Tensor[], eager: () => PassResult): PassResult {
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { recordings: [] }));
    if (!slot.compiled && slot.refused === undefined && slot.recordings.length >= 2) this.compile(slot);
    if (slot.compiled) {
      try {
        return slot.compiled.run(inputs);
      } catch (e) {
        // A session run changes nothing until it returns, so the step can still run eagerly.
        slot.compiled.dispose();
        slot.compiled = undefined;
        this.refuse(slot, `its graph failed to run: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
        return eager();
      }
    }
    if (slot.refused !== undefined) return eager();
    const { result, recording } = this.compiler.record(inputs, eager);
    slot.recordings.push(recording);
    if (!recording.ok) this.refuse(slot, recording.reason);
    return result;
  }

  /** Frees the graphs' sessions; later passes record afresh. */
  dispose(): void {
    for (const slot of this.slots.values()) slot.compiled?.dispose();
    this.slots.clear();
  }

  /** A graph from the slot's last two recordings; recorded once more if they differ, up to a limit. */
  private compile(slot: PassSlot): void {
    const [previous, latest] = slot.recordings.slice(-2);
    const compiled = this.compiler.compile(previous, latest);
    if (typeof compiled !== 'string') {
      slot.compiled = compiled;
      slot.recordings = [];
      this.sayOnce(`training passes run as one ${this.backend} graph each (recorded from the first eager passes)`);
    } else if (slot.recordings.length >= MAX_RECORDINGS) this.refuse(slot, compiled);
  }

  private refuse(slot: PassSlot, reason: string): void {
    slot.refused = reason;
    slot.recordings = [];
    this.sayOnce(`training passes stay op by op (not compiled into a graph: ${reason})`);
  }

  private sayOnce(message: string): void {
    if (this.said.has(message)) return;
    this.said.add(message);
    this.log(message);
  }
}

/**
 * `model.predict(x)` through compiled passes where the backend compiles them (tensorflow on CPU):
 * the first two calls per input shape run op by op while recorded, later ones as one graph (no
 * per-op call cost; same numbers to float rounding). `passes` null: plain predict.
 */
export function predictWith(passes: CompiledPasses | null | undefined, model: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  if (!passes) return model.predict(x) as tf.Tensor;
  const eager = (): PassResult => ({ value: model.predict(x) as tf.Scalar, grads: {} });
  return passes.run(`predict ${x.shape.join('x')}`, [x], eager).value;
}

/** Compiled passes on `backend`, or null where it compiles none. */
export function compiledPassesFor(backend: string, log: (message: string) => void): CompiledPasses | null {
  const compiler = passCompilerFor(backend);
  return compiler ? new CompiledPasses(compiler, backend, log) : null;
}
