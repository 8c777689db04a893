// A weights file read into memory, grouped by layer name, independent of where it came from.

export interface StoredWeight {
  /** Short variable name (`kernel`, `bias`, `gamma`, `moving_mean`…) or its index when the file has none. */
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface WeightFile {
  /** Absolute path it was read from. */
  source: string;
  /** What kind of file it was, for the report (`Keras 2 .h5`, `Keras 3 .weights.h5`, `TensorFlow.js folder`). */
  format: string;
  /** Layer name → its variables in the file's order. Layers without variables are left out. */
  layers: Map<string, StoredWeight[]>;
}

export interface LoadReport {
  source: string;
  format: string;
  /** Model layers whose every variable was set from the file. */
  matched: string[];
  /** Model layers with variables that were left as they were, and why. */
  skipped: { layer: string; why: string }[];
  /** Layers with variables in the file that no considered model layer has. */
  unused: string[];
}
