// A TensorFlow GraphDef written node by node and loaded into its own session. tfjs-node runs graphs
// only as SavedModels, so the graph goes into a SavedModel (tfjs-node's own compiled protobuf
// classes) in a temporary folder, which TensorFlow loads and the folder is removed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type * as tf from '@tensorflow/tfjs';
import { type NativeBackend, type OpAttr, floatAttrs } from './native-backend.js';

const requireHere = createRequire(import.meta.url);

// tfjs-node's compiled TensorFlow protos (google-protobuf), from whichever package is installed.
function protos(): Record<string, any> {
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    try {
      return requireHere(`${pkg}/dist/proto/api_pb.js`);
    } catch {
      // try the next
    }
  }
  throw new Error('tfjs-node protobuf classes not found');
}

/** An attribute whose type the writer does not know. */
export class UnknownAttribute extends Error {}

/** A loaded graph: run it with tensors for its feeds (in the order declared), get its fetches back. */
export interface LoadedGraph {
  run(feeds: tf.Tensor[]): tf.Tensor[];
  dispose(): void;
}

export class GraphWriter {
  private readonly pb = protos();
  private readonly graph = new this.pb.GraphDef();
  private readonly feeds: string[] = [];
  private readonly fetches: string[] = [];
  private counter = 0;

  constructor(private readonly backend: NativeBackend) {}

  /** A node; returns its first output's name. */
  node(op: string, inputs: string[], attrs: OpAttr[], name = `n${this.counter++}`): string {
    return this.add(
      name,
      op,
      inputs,
      attrs.map((a) => [a.name, this.attrValue(a)]),
    );
  }

  /** A placeholder fed on every run, in the order declared. */
  feed(shape: number[], dtype: number): string {
    const b = this.backend.binding;
    const name = this.node(
      'Placeholder',
      [],
      [
        { name: 'dtype', type: b.TF_ATTR_TYPE, value: dtype },
        { name: 'shape', type: b.TF_ATTR_SHAPE, value: shape },
      ],
    );
    this.feeds.push(name);
    return name;
  }

  /** A constant holding `bytes` (little-endian values of `dtype`). */
  constant(shape: number[], dtype: number, bytes: Uint8Array): string {
    const t = new this.pb.Tensor();
    t.setDtype(dtype);
    t.setTensorShape(this.shapeProto(shape));
    t.setTensorContent(bytes);
    // A tensor-valued attribute has no OpAttr form, so its AttrValue is made here.
    const value = new this.pb.AttrValue();
    value.setTensor(t);
    const dtypeAttr = this.attrValue({ name: 'dtype', type: this.backend.binding.TF_ATTR_TYPE, value: dtype });
    return this.add(
      `n${this.counter++}`,
      'Const',
      [],
      [
        ['dtype', dtypeAttr],
        ['value', value],
      ],
    );
  }

  /** A float tensor returned by every run, in the order declared (through an Identity, so a feed or constant can be one). */
  fetch(tensor: string): void {
    this.fetches.push(this.node('Identity', [tensor], floatAttrs(this.backend)));
  }

  /** The graph in a session of its own, or why TensorFlow would not load it. */
  load(): LoadedGraph | string {
    const pb = this.pb;
    const meta = new pb.MetaGraphDef();
    const info = new pb.MetaGraphDef.MetaInfoDef();
    info.addTags('serve');
    meta.setMetaInfoDef(info);
    meta.setGraphDef(this.graph);
    const savedModel = new pb.SavedModel();
    savedModel.setSavedModelSchemaVersion(1);
    savedModel.addMetaGraphs(meta);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-graph-'));
    let id: number;
    try {
      fs.writeFileSync(path.join(dir, 'saved_model.pb'), savedModel.serializeBinary());
      id = this.backend.loadSavedModelMetaGraph(dir, 'serve');
    } catch (e) {
      return `TensorFlow did not load the graph: ${String((e as Error).message ?? e).split('\n')[0]}`;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const backend = this.backend;
    const feedInfos = this.feeds.map((name) => ({ name }));
    const fetches = [...this.fetches];
    return {
      run: (tensors) => backend.runSavedModel(id, tensors, feedInfos, fetches),
      dispose: () => backend.deleteSavedModel(id),
    };
  }

  private add(name: string, op: string, inputs: string[], attrs: [string, unknown][]): string {
    const node = new this.pb.NodeDef();
    node.setName(name);
    node.setOp(op);
    for (const input of inputs) node.addInput(input);
    for (const [key, value] of attrs) node.getAttrMap().set(key, value);
    this.graph.addNode(node);
    return `${name}:0`;
  }

  private shapeProto(shape: number[]) {
    const s = new this.pb.TensorShape();
    for (const size of shape) {
      const dim = new this.pb.TensorShape.Dim();
      dim.setSize(size);
      s.addDim(dim);
    }
    return s;
  }

  private attrValue(attr: OpAttr) {
    const b = this.backend.binding;
    const a = new this.pb.AttrValue();
    if (attr.type === b.TF_ATTR_SHAPE) {
      a.setShape(this.shapeProto(attr.value as number[]));
      return a;
    }
    // Per attribute type: the AttrValue setter of one value and the ListValue adder of a list's.
    const setter = (
      {
        [b.TF_ATTR_STRING]: ['setS', 'addS'],
        [b.TF_ATTR_INT]: ['setI', 'addI'],
        [b.TF_ATTR_FLOAT]: ['setF', 'addF'],
        [b.TF_ATTR_BOOL]: ['setB', 'addB'],
        [b.TF_ATTR_TYPE]: ['setType', 'addType'],
      } as Record<number, [string, string]>
    )[attr.type];
    if (!setter) throw new UnknownAttribute(`attribute ${attr.name} of an unknown type`);
    const encode = (v: unknown) => (attr.type === b.TF_ATTR_STRING ? Buffer.from(String(v)) : v);
    if (Array.isArray(attr.value)) {
      const list = new this.pb.AttrValue.ListValue();
      for (const v of attr.value) list[setter[1]](encode(v));
      a.setList(list);
    } else a[setter[0]](encode(attr.value));
    return a;
  }
}
