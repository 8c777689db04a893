// An inference pass rewritten so TensorFlow's graph optimiser (grappler's remapper, then oneDNN)
// fuses each convolution with its batch norm and ReLU into one kernel, as it does for Keras' graphs.
// As tfjs records them, the layers do not match the patterns it looks for:
// - tfjs' batchNorm reshapes its 4-D input to 4-D and back: Conv2D → FusedBatchNorm → Reshape → Relu.
//   A Reshape to the shape it was given is dropped here.
// - a convolution's bias is an `Add`, and remapper fuses Conv2D + FusedBatchNorm but not a bias between
//   them. BN(conv + b) with mean m is BN(conv) with mean m − b, so the bias moves into the batch norm's
//   mean (one subtraction per channel per run).
// - a bias added to a convolution without a batch norm after it becomes `BiasAdd`, which remapper
//   fuses with the convolution (and a following ReLU).
// Only inference passes are rewritten: a training pass's gradients read the intermediate tensors.
import { type NativeBackend, floatAttrs } from './native-backend.js';
import type { PassRecording, RecordedOp, Source } from './pass-graph.js';

const sameShape = (a: number[] | undefined, b: number[] | undefined) => !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);

/** The recording with its layers in fusable form; `fused` counts the batch norms given their convolution. */
export function fuseForInference(rec: PassRecording, backend: NativeBackend): PassRecording & { fused: number } {
  const b = backend.binding;
  const ops: RecordedOp[] = rec.ops.map((o) => ({ ...o, inputs: [...o.inputs] }));
  const shapeOf = (s: Source): number[] | undefined => {
    switch (s.kind) {
      case 'op':
        return ops[s.node].shapes[s.output];
      case 'input':
        return rec.inputs[s.index].shape;
      case 'per-step':
        return rec.perStep[s.index].tensor.shape;
      case 'variable':
        return s.variable.shape as number[];
      case 'const':
        return s.shape;
    }
  };
  const producer = (s: Source) => (s.kind === 'op' ? ops[s.node] : undefined);
  const floatOnly = (o: RecordedOp) => o.attrs.some((a) => a.name === 'T' && a.value === b.TF_FLOAT);

  // Reshapes to the same shape: their consumers read the reshape's input instead.
  const unwrap = (s: Source): Source => {
    let at = s;
    for (let o = producer(at); o?.op === 'Reshape' && sameShape(shapeOf(o.inputs[0]), o.shapes[0]); o = producer(at)) at = o.inputs[0];
    return at;
  };
  for (const o of ops) o.inputs = o.inputs.map(unwrap);
  const value = unwrap(rec.value);

  /** A 4-D convolution's output plus a per-channel bias: [convolution, bias], else null. */
  const convPlusBias = (s: Source): [Source, Source] | null => {
    const add = producer(s);
    if (add?.op !== 'Add' || !floatOnly(add)) return null;
    for (const [x, bias] of [add.inputs, [...add.inputs].reverse()]) {
      const shape = shapeOf(x);
      if (producer(x)?.op === 'Conv2D' && shape?.length === 4 && sameShape(shapeOf(bias), [shape[3]]) && sameShape(add.shapes[0], shape))
        return [x, bias];
    }
    return null;
  };

  let fused = 0;
  const count = ops.length;
  for (let i = 0; i < count; i++) {
    const o = ops[i];
    const inferenceNorm = o.op.startsWith('FusedBatchNorm') && o.attrs.some((a) => a.name === 'is_training' && a.value === false);
    const found = inferenceNorm ? convPlusBias(o.inputs[0]) : null;
    if (!found) continue;
    const [conv, bias] = found;
    ops.push({ op: 'Sub', attrs: floatAttrs(backend), inputs: [o.inputs[3], bias], shapes: [shapeOf(bias)!] });
    o.inputs[0] = conv;
    o.inputs[3] = { kind: 'op', node: ops.length - 1, output: 0 };
    fused++;
  }
  // Biases still added to a convolution (no batch norm after it): BiasAdd.
  for (let i = 0; i < count; i++) {
    const o = ops[i];
    const found = convPlusBias({ kind: 'op', node: i, output: 0 });
    if (!found) continue;
    ops[i] = {
      op: 'BiasAdd',
      attrs: [...floatAttrs(backend), { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' }],
      inputs: found,
      shapes: o.shapes,
    };
  }
  return { ...rec, ops, value, fused };
}
