// Optimiser updates on the tensorflow backend as TensorFlow's fused training ops. On tfjs ops an
// Adam update is 13 elementwise passes over each weight, a third of a ResNet50 step; TensorFlow's
// ResourceApplyAdam does it in one. Those ops update resource variables in place, so each weight
// gets a TensorFlow resource variable (and one per slot) next to its tfjs variable; after the update
// the tfjs variable takes the new value, and a tfjs variable changed elsewhere (a checkpoint
// restored, weights loaded) is copied back in before its next update.
import * as tf from '@tensorflow/tfjs';
import type { AdamUpdate, OptimizerState, Scalars, SgdUpdate, UpdateEngine } from '../../update-engine.js';
import { type NativeBackend, type OpAttr, floatAttrs } from '../../native/native-backend.js';

interface NativeWeight {
  variable: tf.Tensor;
  slots: Map<string, tf.Tensor>;
  shape: number[];
  /** The tfjs variable's data after our last write: a different one means it was changed elsewhere. */
  synced: object | null;
}

let handles = 0;

export class NativeUpdates implements UpdateEngine {
  private readonly weights = new Map<string, NativeWeight>();

  constructor(private readonly backend: NativeBackend) {}

  private attr(name: string, type: 'bool' | 'string' | 'dtype' | 'shape', value: unknown): OpAttr {
    const b = this.backend.binding;
    if (type === 'dtype') return { name, type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
    const kind = { bool: b.TF_ATTR_BOOL, string: b.TF_ATTR_STRING, shape: b.TF_ATTR_SHAPE }[type];
    return { name, type: kind, value };
  }

  private newResource(shape: number[], initial: tf.Tensor): tf.Tensor {
    const handle = tf.keep(
      this.backend.executeSingleOutput(
        'VarHandleOp',
        [
          this.attr('container', 'string', ''),
          this.attr('shared_name', 'string', `gzx_optimizer_${process.pid}_${handles++}`),
          this.attr('dtype', 'dtype', null),
          this.attr('shape', 'shape', shape),
        ],
        [],
      ),
    );
    this.assign(handle, initial);
    return handle;
  }

  private assign(handle: tf.Tensor, value: tf.TensorInfo): void {
    this.backend.executeMultipleOutputs('AssignVariableOp', [this.attr('dtype', 'dtype', null)], [handle, value], 0);
  }

  private read(handle: tf.Tensor): tf.Tensor {
    return this.backend.executeSingleOutput('ReadVariableOp', [this.attr('dtype', 'dtype', null)], [handle]);
  }

  /** The weight's resource variable holding the tfjs variable's current value, with its slots. */
  private weight(name: string, p: tf.Variable, slotNames: string[]): NativeWeight {
    let w = this.weights.get(name);
    if (!w) {
      w = { variable: this.newResource(p.shape, p), slots: new Map(), shape: p.shape, synced: p.dataId };
      this.weights.set(name, w);
    } else if (w.synced !== p.dataId) {
      this.assign(w.variable, p);
      w.synced = p.dataId;
    }
    for (const slot of slotNames) {
      if (!w.slots.has(slot)) {
        const zeros = tf.zerosLike(p);
        w.slots.set(slot, this.newResource(p.shape, zeros));
        zeros.dispose();
      }
    }
    return w;
  }

  private publish(w: NativeWeight, p: tf.Variable): void {
    const value = this.read(w.variable);
    p.assign(value);
    value.dispose();
    w.synced = p.dataId;
  }

  private run(op: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): void {
    this.backend.executeMultipleOutputs(op, [...floatAttrs(this.backend), ...attrs], inputs, 0);
  }

  adam(name: string, p: tf.Variable, g: tf.Tensor, u: AdamUpdate, k: Scalars): void {
    const w = this.weight(name, p, ['m', 'v']);
    const locking = this.attr('use_locking', 'bool', false);
    // Decoupled decay first (var −= lr·wd·p, p being var's value now), then Adam on the gradient.
    if (u.decay > 0) this.run('ResourceApplyGradientDescent', [locking], [w.variable, k(u.decay), p]);
    const { lr, beta1, beta1Power, beta2, beta2Power, eps } = u;
    this.run(
      'ResourceApplyAdam',
      [locking, this.attr('use_nesterov', 'bool', false)],
      [w.variable, w.slots.get('m')!, w.slots.get('v')!, k(beta1Power), k(beta2Power), k(lr), k(beta1), k(beta2), k(eps), g],
    );
    this.publish(w, p);
  }

  sgd(name: string, p: tf.Variable, g: tf.Tensor, u: SgdUpdate, k: Scalars): void {
    const w = this.weight(name, p, ['buf']);
    this.run(
      'ResourceApplyMomentum',
      [this.attr('use_locking', 'bool', false), this.attr('use_nesterov', 'bool', u.nesterov)],
      [w.variable, w.slots.get('buf')!, k(u.lr), g, k(u.momentum)],
    );
    this.publish(w, p);
  }

  async readSlots(): Promise<OptimizerState['slots']> {
    const out: OptimizerState['slots'] = {};
    for (const [name, w] of this.weights) {
      out[name] = {};
      for (const [slot, handle] of w.slots) {
        const value = this.read(handle);
        out[name][slot] = (await value.data()) as Float32Array;
        value.dispose();
      }
    }
    return out;
  }

  loadSlots(slots: OptimizerState['slots'], variables: Map<string, tf.Variable>): void {
    for (const [name, perVar] of Object.entries(slots)) {
      const p = variables.get(name);
      if (!p) continue;
      const w = this.weight(name, p, []);
      for (const [slot, values] of Object.entries(perVar)) {
        const value = tf.tensor(values, p.shape, 'float32');
        const existing = w.slots.get(slot);
        if (existing) this.assign(existing, value);
        else w.slots.set(slot, this.newResource(p.shape, value));
        value.dispose();
      }
    }
  }

  dispose(): void {
    const destroy = (handle: tf.Tensor) => {
      this.backend.executeMultipleOutputs('DestroyResourceOp', [this.attr('ignore_lookup_error', 'bool', true)], [handle], 0);
      handle.dispose();
    };
    for (const w of this.weights.values()) {
      destroy(w.variable);
      for (const handle of w.slots.values()) destroy(handle);
    }
    this.weights.clear();
  }
}
