// Where each value of a config came from (file:line:col, or a --set argument), keyed by JSON Pointer
// so ajv's `instancePath` can be looked up directly.
import path from 'node:path';

export type Origin = { file: string; line: number; col: number } | { set: string };

export interface NodeOrigin {
  /** Position of the key (for "unknown key" errors); absent for list items and --set values. */
  key?: Origin;
  /** Position of the value. */
  value: Origin;
}

export type Segment = string | number;

/** RFC 6901 JSON Pointer, the format of ajv's instancePath. */
export function toPointer(segments: readonly Segment[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export function fromPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `train.phases.0.lr`, the way users write keys in --set and docs. */
export function dottedPath(pointer: string): string {
  const parts = fromPointer(pointer);
  return parts.length === 0 ? '(top level)' : parts.join('.');
}

/** A file path as users should see it: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

export function formatOrigin(o: Origin): string {
  return 'set' in o ? `--set ${o.set}` : `${displayPath(o.file)}:${o.line}:${o.col}`;
}

export class OriginMap {
  private readonly entries = new Map<string, NodeOrigin>();

  constructor(private readonly fallback: Origin) {}

  set(pointer: string, origin: NodeOrigin): void {
    this.entries.set(pointer, origin);
  }

  get(pointer: string): NodeOrigin | undefined {
    return this.entries.get(pointer);
  }

  /** Forgets a value and everything below it (it is being replaced). */
  deleteSubtree(pointer: string): void {
    for (const k of [...this.entries.keys()]) {
      if (k === pointer || k.startsWith(pointer + '/')) this.entries.delete(k);
    }
  }

  /** Copies `pointer` and everything below it from another map. */
  copySubtree(from: OriginMap, pointer: string): void {
    for (const [k, v] of from.entries) {
      if (k === pointer || k.startsWith(pointer + '/')) this.entries.set(k, v);
    }
  }

  /**
   * Origin of a value; values filled by defaults have none, so the closest ancestor that has one
   * is used (e.g. a missing option of `with: {}` points at the plugin reference).
   */
  locate(pointer: string, preferKey = false): Origin {
    let parts = fromPointer(pointer);
    for (;;) {
      const hit = this.entries.get(toPointer(parts));
      if (hit) return (preferKey && hit.key) || hit.value;
      if (parts.length === 0) return this.fallback;
      parts = parts.slice(0, -1);
      preferKey = false;
    }
  }
}
