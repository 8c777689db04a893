// Training passes as one TensorFlow graph on the tensorflow backend (CPU). Op by op, every tfjs op
// is a call into TensorFlow's eager runtime with a fixed cost (~30–250 µs here); a small CNN's pass is
// ~150 of them. tfjs-node can run TensorFlow graphs only as SavedModels, so the ops of an eager pass
// are recorded at tfjs-node's binding (op name, attributes, which tensor fed which input), written as
// a GraphDef in a SavedModel with tfjs-node's own protobuf classes, loaded into a session, and run
// with the batch, the per-step inputs (src/runtime/traced-pass.ts) and the variables' current values
// fed in; variables the pass assigns (batch norm's moving averages) come back as outputs.
import * as crypto from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { type CompiledPass, type PassCompiler, type PassResult, type PerStepInput, type Recording, collectPerStepInputs } from '../traced-pass.js';
import type { NativeBackend, NativeBinding, OpAttr } from './native-backend.js';
import { fuseForInference } from './fuse-inference.js';
import { GraphWriter, UnknownAttribute } from './graph-writer.js';

/** Where a recorded op's input came from. */
export type Source =
  | { kind: 'op'; node: number; output: number }
  | { kind: 'input'; index: number }
  | { kind: 'per-step'; index: number }
  | { kind: 'variable'; variable: tf.Variable }
  | { kind: 'const'; shape: number[]; dtype: number; bytes: Uint8Array };

export interface RecordedOp {
  op: string;
  attrs: OpAttr[];
  inputs: Source[];
  /** Each output's shape, as the eager run made it. */
  shapes: number[][];
}

export interface PassRecording {
  ok: true;
  signature: string;
  ops: RecordedOp[];
  inputs: { shape: number[]; dtype: number }[];
  perStep: PerStepInput[];
  value: Source;
  grads: [string, Source][];
  assigned: [tf.Variable, Source][];
}

/** A pass that reads a value into JavaScript cannot become a graph. */
class NotRecordable extends Error {}

function tfDtype(b: NativeBinding, dtype: string): number {
  const map: Record<string, number> = { float32: b.TF_FLOAT, int32: b.TF_INT32, bool: b.TF_BOOL };
  if (!(dtype in map)) throw new NotRecordable(`a ${dtype} tensor`);
  return map[dtype];
}

function bytesOf(values: ArrayBufferView | ArrayLike<number>, dtype: number, b: NativeBinding): Uint8Array {
  if (ArrayBuffer.isView(values)) return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const typed = dtype === b.TF_FLOAT ? Float32Array.from(values) : dtype === b.TF_BOOL ? Uint8Array.from(values) : Int32Array.from(values);
  return new Uint8Array(typed.buffer);
}

function describe(s: Source): string {
  switch (s.kind) {
    case 'op':
      return `op${s.node}:${s.output}`;
    case 'input':
      return `input${s.index}`;
    case 'per-step':
      return `step-input${s.index}`;
    case 'variable':
      return `variable:${s.variable.name}`;
    case 'const':
      return `const:${s.dtype}:[${s.shape.join(',')}]:${crypto.createHash('sha1').update(s.bytes).digest('hex')}`;
  }
}

/** Runs with the same weights after which an inference graph is rebuilt with them as constants. */
export const FREEZE_AFTER = 16;

export interface NativePassOptions {
  /** Inference passes written so TensorFlow fuses convolution, batch norm and ReLU (default true). */
  fuseInference?: boolean;
  /** Runs with unchanged weights before an inference graph gets them as constants (default 16; 0 never). */
  freezeAfter?: number;
}

export class NativePassCompiler implements PassCompiler {
  private readonly backend = tf.backend() as unknown as NativeBackend;

  constructor(private readonly options: NativePassOptions = {}) {}

  record(inputs: tf.Tensor[], pass: () => PassResult): { result: PassResult; recording: Recording } {
    const backend = this.backend;
    const binding = backend.binding;
    const ids = (ts: tf.TensorInfo[]) => backend.getInputTensorIds(ts);
    const inputIds = ids(inputs);
    const variables = Object.values(tf.engine().state.registeredVariables) as tf.Variable[];
    const variableIds = ids(variables);
    const variableAt = new Map(variableIds.map((id, i) => [id, variables[i]]));
    // Each variable's value now (a reference, not a copy), to undo a pass that stops half way.
    const before = variables.map((v) => tf.keep(tf.clone(v)));
    const variableCount = variables.length;

    const shapes = new Map<number, { shape: number[]; dtype: string }>();
    const dataIdOf = new Map<object, number>();
    const created = new Map<number, { shape: number[]; dtype: number; values: ArrayBufferView | ArrayLike<number> }>();
    const producer = new Map<number, { node: number; output: number }>();
    const rawOps: { op: string; attrs: OpAttr[]; inputIds: number[]; shapes: number[][] }[] = [];

    // A copy of the binding with the two calls that make tensors recorded (its own properties are
    // read-only, so the backend gets the copy for the pass's duration).
    const all = binding as unknown as Record<string, unknown>;
    const copy: Record<string, unknown> = Object.create(null);
    for (const key of Object.getOwnPropertyNames(all)) {
      const v = all[key];
      copy[key] = typeof v === 'function' ? v.bind(binding) : v;
    }
    const recording = copy as unknown as NativeBinding;
    recording.executeOp = (name, attrs, opInputIds, numOutputs) => {
      const outputs = binding.executeOp(name, attrs, opInputIds, numOutputs);
      const node = rawOps.length;
      rawOps.push({ op: name, attrs, inputIds: [...opInputIds], shapes: outputs.map((m) => [...m.shape]) });
      outputs.forEach((m, output) => producer.set(m.id, { node, output }));
      return outputs;
    };
    recording.createTensor = (shape, dtype, values) => {
      const id = binding.createTensor(shape, dtype, values);
      created.set(id, { shape: [...shape], dtype, values: ArrayBuffer.isView(values) ? values : Array.from(values) });
      return id;
    };
    const own = backend as unknown as Record<string, unknown>;
    const saved = { binding: own.binding, getInputTensorIds: own.getInputTensorIds, readSync: own.readSync, read: own.read };
    own.binding = recording;
    own.getInputTensorIds = (tensors: tf.TensorInfo[]) => {
      const result = (saved.getInputTensorIds as NativeBackend['getInputTensorIds']).call(backend, tensors);
      tensors.forEach((t, i) => {
        shapes.set(result[i], { shape: t.shape, dtype: t.dtype });
        if (t.dataId) dataIdOf.set(t.dataId, result[i]);
      });
      return result;
    };
    const refuse = () => {
      throw new NotRecordable('it reads a tensor into JavaScript mid-pass');
    };
    own.readSync = refuse;
    own.read = refuse;
    let result: PassResult;
    let perStep: PerStepInput[];
    let failure: string | null = null;
    try {
      ({ result, inputs: perStep } = collectPerStepInputs(pass));
    } catch (e) {
      if (!(e instanceof NotRecordable)) throw e;
      failure = e.message;
    } finally {
      Object.assign(own, saved);
    }
    if (failure !== null) {
      // The pass stopped half way: undo what it assigned (a batch norm's averages) and run it again
      // unrecorded for this step's result.
      variables.forEach((v, i) => {
        if (ids([v])[0] !== variableIds[i]) v.assign(before[i]);
      });
      tf.dispose(before);
      return { result: pass(), recording: { ok: false, reason: failure } };
    }
    tf.dispose(before);
    result = result!;
    if (Object.keys(tf.engine().state.registeredVariables).length !== variableCount) {
      return { result, recording: { ok: false, reason: 'it creates variables' } };
    }
    try {
      const perStepIds = new Map(perStep!.map((p, i) => [dataIdOf.get(p.tensor.dataId), i]));
      const inputIndex = new Map(inputIds.map((id, i) => [id, i]));
      const source = (id: number): Source => {
        const made = producer.get(id);
        if (made) return { kind: 'op', ...made };
        if (inputIndex.has(id)) return { kind: 'input', index: inputIndex.get(id)! };
        if (perStepIds.has(id)) return { kind: 'per-step', index: perStepIds.get(id)! };
        const variable = variableAt.get(id);
        if (variable) return { kind: 'variable', variable };
        // Anything else is a constant of this pass (shapes, scalars) or made before it (layer constants).
        const c = created.get(id);
        if (c) return { kind: 'const', shape: c.shape, dtype: c.dtype, bytes: bytesOf(c.values, c.dtype, binding) };
        const info = shapes.get(id);
        if (!info) throw new NotRecordable(`tensor ${id} of unknown origin`);
        const dtype = tfDtype(binding, info.dtype);
        return { kind: 'const', shape: info.shape, dtype, bytes: bytesOf(binding.tensorDataSync(id), dtype, binding) };
      };
      const ops = rawOps.map((r) => ({ op: r.op, attrs: r.attrs, inputs: r.inputIds.map(source), shapes: r.shapes }));
      const idOf = (t: tf.Tensor) => ids([t])[0];
      const value = source(idOf(result.value));
      const grads = Object.entries(result.grads).map(([name, g]) => [name, source(idOf(g))] as [string, Source]);
      const assigned: [tf.Variable, Source][] = [];
      variables.forEach((v, i) => {
        const now = idOf(v);
        if (now !== variableIds[i]) assigned.push([v, source(now)]);
      });
      const signature = JSON.stringify({
        ops: ops.map((o) => [o.op, o.attrs, o.inputs.map(describe)]),
        inputs: inputs.map((t) => [t.dtype, t.shape]),
        perStep: perStep!.map((p) => [p.tensor.dtype, p.tensor.shape]),
        value: describe(value),
        grads: grads.map(([n, s]) => [n, describe(s)]),
        assigned: assigned.map(([v, s]) => [v.name, describe(s)]),
      });
      const rec: PassRecording = {
        ok: true,
        signature,
        ops,
        inputs: inputs.map((t) => ({ shape: t.shape, dtype: tfDtype(binding, t.dtype) })),
        perStep: perStep!,
        value,
        grads,
        assigned,
      };
      return { result, recording: rec };
    } catch (e) {
      if (!(e instanceof NotRecordable)) throw e;
      return { result, recording: { ok: false, reason: e.message } };
    }
  }

  compile(first: Recording, second: Recording): CompiledPass | string {
    if (!first.ok) return first.reason;
    if (!second.ok) return second.reason;
    if (first.signature !== second.signature) return 'two passes differed (a value made in JavaScript changes between steps)';
    const rec = second as PassRecording;
    if (rec.grads.length > 0 || rec.assigned.length > 0) return buildGraph(this.backend, rec);
    // Inference: fused, and frozen once the same weights keep coming back.
    const inference = this.options.fuseInference === false ? rec : fuseForInference(rec, this.backend);
    const fed = buildGraph(this.backend, inference);
    const freezeAfter = this.options.freezeAfter ?? FREEZE_AFTER;
    return typeof fed === 'string' || freezeAfter <= 0
      ? fed
      : freezing(fed, variablesRead(inference), freezeAfter, () => buildGraph(this.backend, inference, { frozen: true }));
  }
}

/** The variables a recorded pass reads. */
function variablesRead(rec: PassRecording): tf.Variable[] {
  const read = new Set<tf.Variable>();
  for (const s of [rec.value, ...rec.ops.flatMap((o) => o.inputs)]) if (s.kind === 'variable') read.add(s.variable);
  return [...read];
}

/**
 * An inference graph that reads the weights as constants once they have stayed the same for
 * `after` runs. oneDNN then keeps each convolution's filter in its own blocked layout instead of
 * reordering it on every run, and TensorFlow folds what depends on weights alone; it costs a
 * rebuild of the graph (seconds for a ResNet50), so it waits until the weights stop changing
 * (prediction, a validation pass longer than `after` batches). New weights go back to `fed`.
 */
function freezing(fed: CompiledPass, variables: tf.Variable[], after: number, build: () => CompiledPass | string): CompiledPass {
  let weights: object[] = [];
  let sameRuns = 0;
  let frozen: CompiledPass | undefined;
  let refused = false;
  return {
    run(inputs) {
      // A variable's assign gives it a new dataId: the same ids, the same weights.
      const now = variables.map((v) => v.dataId);
      if (now.length === weights.length && now.every((id, i) => id === weights[i])) sameRuns++;
      else {
        weights = now;
        sameRuns = 0;
        frozen?.dispose();
        frozen = undefined;
      }
      if (!frozen && !refused && sameRuns >= after) {
        const built = build();
        if (typeof built === 'string') refused = true;
        else frozen = built;
      }
      return (frozen ?? fed).run(inputs);
    },
    dispose() {
      frozen?.dispose();
      fed.dispose();
    },
  };
}

/**
 * The recorded pass as a SavedModel, loaded into a TensorFlow session. `frozen`: the variables'
 * current values are written into the graph as constants instead of fed on each run.
 */
function buildGraph(backend: NativeBackend, rec: PassRecording, { frozen = false } = {}): CompiledPass | string {
  const b = backend.binding;
  const graph = new GraphWriter(backend);
  // Each feed's tensor for a run, in the order the feeds were declared.
  const feeds: (() => tf.Tensor)[] = [];
  const variableFeeds = new Map<tf.Variable, string>();
  const consts = new Map<string, string>();
  // Per-step tensors made for one run, fed in the order recorded.
  let perStepNow: tf.Tensor[] = [];
  let inputsNow: tf.Tensor[] = [];
  const inputFeeds = rec.inputs.map((info, i) => {
    feeds.push(() => inputsNow[i]);
    return graph.feed(info.shape, info.dtype);
  });
  const perStepFeeds = rec.perStep.map((p, i) => {
    feeds.push(() => perStepNow[i]);
    return graph.feed(p.tensor.shape, b.TF_FLOAT);
  });
  const ref = (s: Source): string => {
    switch (s.kind) {
      case 'op':
        return `op${s.node}:${s.output}`;
      case 'input':
        return inputFeeds[s.index];
      case 'per-step':
        return perStepFeeds[s.index];
      case 'variable': {
        const v = s.variable;
        let name = variableFeeds.get(v);
        if (!name) {
          const dtype = tfDtype(b, v.dtype);
          if (frozen) name = graph.constant(v.shape as number[], dtype, bytesOf(v.dataSync(), dtype, b));
          else {
            feeds.push(() => v);
            name = graph.feed(v.shape as number[], dtype);
          }
          variableFeeds.set(v, name);
        }
        return name;
      }
      case 'const': {
        const key = describe(s);
        let name = consts.get(key);
        if (!name) {
          name = graph.constant(s.shape, s.dtype, s.bytes);
          consts.set(key, name);
        }
        return name;
      }
    }
  };
  try {
    rec.ops.forEach((o, i) => graph.node(o.op, o.inputs.map(ref), o.attrs, `op${i}`));
  } catch (e) {
    if (e instanceof UnknownAttribute) return e.message;
    throw e;
  }
  graph.fetch(ref(rec.value));
  rec.grads.forEach(([, s]) => graph.fetch(ref(s)));
  rec.assigned.forEach(([, s]) => graph.fetch(ref(s)));
  const loaded = graph.load();
  if (typeof loaded === 'string') return loaded;
  const gradNames = rec.grads.map(([name]) => name);
  const assigned = rec.assigned.map(([v]) => v);
  return {
    run(inputs: tf.Tensor[]): PassResult {
      inputsNow = inputs;
      perStepNow = rec.perStep.map((p) => p.make());
      try {
        const outs = loaded.run(feeds.map((f) => f()));
        const grads: tf.NamedTensorMap = {};
        gradNames.forEach((name, i) => (grads[name] = outs[1 + i]));
        assigned.forEach((v, i) => {
          const out = outs[1 + gradNames.length + i];
          v.assign(out);
          out.dispose();
        });
        return { value: outs[0] as tf.Scalar, grads };
      } finally {
        tf.dispose(perStepNow);
        perStepNow = [];
        inputsNow = [];
      }
    },
    dispose: () => loaded.dispose(),
  };
}
