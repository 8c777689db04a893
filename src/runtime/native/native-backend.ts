// The part of tfjs-node's backend the native kernels use: its executor for any TensorFlow op.
// Typed here because tfjs-node is an optional dependency that may not be installed.
import type * as tf from '@tensorflow/tfjs';

export interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

/** tfjs-node's N-API binding: its dtype and attribute-type enums, and the calls gzx makes. */
export interface NativeBinding {
  TF_FLOAT: number;
  TF_INT32: number;
  TF_INT64: number;
  TF_BOOL: number;
  TF_STRING: number;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
  executeOp(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): { id: number; shape: number[]; dtype: number }[];
  createTensor(shape: number[], dtype: number, values: ArrayLike<number> | ArrayBufferView): number;
  tensorDataSync(id: number): ArrayBufferView;
}

export interface NativeBackend {
  binding: NativeBinding;
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
  /** tfjs-node's TensorFlow handle ids of tensors (made on first use for tensors written from JavaScript). */
  getInputTensorIds(tensors: tf.TensorInfo[]): number[];
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
  loadSavedModelMetaGraph(path: string, tags: string): number;
  runSavedModel(id: number, inputs: tf.Tensor[], inputInfos: { name: string }[], outputNames: string[]): tf.Tensor[];
  deleteSavedModel(id: number): void;
}

/** The `T: float32` attribute every float op takes. */
export function floatAttrs(backend: NativeBackend): OpAttr[] {
  return [{ name: 'T', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }];
}
