// Reads config YAML with positions, follows `extends:` chains and applies `--set` overrides.
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, parse as parseYaml, isMap, isSeq, isScalar, visit, type Node } from 'yaml';
import { UserError } from '../../base/errors.js';
import { OriginMap, toPointer, displayPath, formatOrigin, type Origin, type Segment } from './origins.js';

export interface ConfigLayer {
  value: Record<string, unknown>;
  origins: OriginMap;
}

type Json = unknown;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Largest config file read (bytes): GZX_MAX_CONFIG_BYTES, default 1 MB. Real configs are a few kB. */
export function maxConfigBytes(): number {
  const env = Number(process.env.GZX_MAX_CONFIG_BYTES);
  return Number.isFinite(env) && env > 0 ? env : 1_000_000;
}

/** A YAML config must be UTF-8 text: anything else is named (UTF-16 from a Windows editor is the usual one). */
function decodeConfigText(file: string, bytes: Buffer): string {
  const fail = (what: string) =>
    new UserError(`${displayPath(file)}: the config is not UTF-8 text (${what}). Save it as UTF-8 (in most editors: "Save with encoding").`);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) throw fail('it is UTF-16 LE, with a byte-order mark');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) throw fail('it is UTF-16 BE, with a byte-order mark');
  const nul = bytes.indexOf(0);
  if (nul >= 0 && nul < 64) throw fail(`it has NUL bytes, ${nul % 2 === 1 ? 'as UTF-16 LE text does' : 'as UTF-16 BE text or binary data does'}`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // Say where: the line of the first byte that is not UTF-8.
    const text = bytes.toString('utf8');
    const bad = text.indexOf('\ufffd');
    const line = bad < 0 ? 1 : text.slice(0, bad).split('\n').length;
    throw fail(`line ${line} has bytes that are not UTF-8, e.g. Latin-1 or Windows-1252 text`);
  }
}

function readConfigFile(file: string, from?: { origin: Origin; what: string }): string {
  try {
    const stat = fs.statSync(file);
    // /dev/zero, a FIFO or /proc/…: reading would never end, or not be a config.
    if (!stat.isFile() && !stat.isDirectory()) {
      const what = `${displayPath(file)} is not a regular file (a device, pipe or socket)`;
      throw new UserError(from ? `${formatOrigin(from.origin)}: ${from.what}: ${what}. Name a YAML file.` : `Config file ${what}. Name a YAML file.`);
    }
    const size = stat.size;
    if (size > maxConfigBytes()) {
      throw new UserError(
        `${displayPath(file)}: the config is ${size.toLocaleString('en')} bytes, more than the limit of ` +
          `${maxConfigBytes().toLocaleString('en')} (a generated or wrong file?). Shorten it, or raise GZX_MAX_CONFIG_BYTES.`,
      );
    }
    return decodeConfigText(file, fs.readFileSync(file));
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a file' : (e as Error).message;
    if (from) {
      throw new UserError(
        `${formatOrigin(from.origin)}: ${from.what}: cannot read ${displayPath(file)}: ${reason}. ` +
          `Fix the path (it is relative to the file that names it).`,
      );
    }
    throw new UserError(`Config file ${displayPath(file)}: ${reason}. Check the path.`);
  }
}

/** Most problems listed at once: a hostile or generated config can have hundreds of thousands. */
export const MAX_LISTED_PROBLEMS = 50;

/** The first MAX_LISTED_PROBLEMS lines, then "… and N more". */
export function capLines(lines: string[]): string {
  const more = lines.length - MAX_LISTED_PROBLEMS;
  return lines.slice(0, MAX_LISTED_PROBLEMS).join('\n') + (more > 0 ? `\n… and ${more} more (fix these, then run gzx validate again)` : '');
}

/** Alias expansions allowed per file: merge keys and a few anchors need far fewer. */
const MAX_ALIAS_COUNT = 1000;

/** Tags a config may carry: YAML's own scalar and collection types. Others (!!python/object, !!binary, !foo) are errors. */
const ALLOWED_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

function rejectTags(doc: ReturnType<typeof parseDocument>, at: (offset: number) => Origin): void {
  const lines: string[] = [];
  visit(doc, (_, node) => {
    const tag = (node as { tag?: string } | null)?.tag;
    if (!tag || ALLOWED_TAGS.has(tag)) return;
    const shown = tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
    const where = (node as { range?: [number] }).range?.[0] ?? 0;
    lines.push(`${formatOrigin(at(where))}: YAML tag ${shown} is not allowed: a config holds plain values. Remove the tag.`);
  });
  if (lines.length > 0) throw new UserError(capLines(lines));
}

/** Parses one YAML file into a plain value plus the position of every key and value. */
export function parseConfigFile(file: string, text: string): ConfigLayer {
  const lineCounter = new LineCounter();
  // merge: YAML 1.1 merge keys (`<<: *defaults`) are common in hand-written configs.
  // uniqueKeys: false: yaml's own check compares every key with every other (20,000 keys: 10 s);
  // duplicates are found below with a Set instead.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, merge: true });
  const at = (offset: number): Origin => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = at(e.pos[0]);
      // yaml reports runaway nesting as a stack overflow: say what it means.
      const what = /call stack/i.test(e.message) ? 'nested too deeply (a config needs a few levels, not hundreds)' : e.message.split('\n')[0];
      return `${formatOrigin(pos)}: YAML syntax error: ${what}`;
    });
    throw new UserError(capLines(lines));
  }
  rejectTags(doc, at);
  const origins = new OriginMap({ file, line: 1, col: 1 });
  let value: Json;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Json;
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    throw new UserError(
      `${formatOrigin({ file, line: 1, col: 1 })}: YAML aliases (*name) expand to more than ${MAX_ALIAS_COUNT} nodes ` +
        `(an "alias bomb"). A config needs few aliases: write the values out, or use extends.`,
    );
  }
  if (value === null || value === undefined) return { value: {}, origins };
  if (!isPlainObject(value)) {
    const start = doc.contents?.range?.[0] ?? 0;
    throw new UserError(
      `${formatOrigin(at(start))}: (top level): expected a map of keys (name: …, data: …), got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}.`,
    );
  }
  const walk = (node: Node | null | undefined, segs: Segment[], keyOrigin?: Origin): void => {
    const valueOrigin = node?.range ? at(node.range[0]) : keyOrigin;
    if (valueOrigin) origins.set(toPointer(segs), { key: keyOrigin, value: valueOrigin });
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        // Values merged from `<<: *anchor` have no position here; errors fall back to this map.
        if (key === '<<') continue;
        const ko = keyNode?.range ? at(keyNode.range[0]) : valueOrigin;
        if (seen.has(key)) duplicates.push(`${formatOrigin(ko ?? at(0))}: YAML syntax error: Map keys must be unique ("${key}" appears twice)`);
        seen.add(key);
        walk(pair.value as Node | null, [...segs, key], ko);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item as Node, [...segs, i]));
    }
  };
  const duplicates: string[] = [];
  walk(doc.contents as Node, []);
  if (duplicates.length > 0) throw new UserError(capLines(duplicates));
  origins.set('', { value: { file, line: 1, col: 1 } });
  return { value, origins };
}

/** A key written `~name` in a child config deletes the inherited `name` (Hydra's `~key`). */
const DELETE_PREFIX = '~';

/**
 * A plugin block (`{use, with}`) whose `use:` changes is a different plugin: the new block replaces
 * the old one whole, as Hydra's config groups do, so the old plugin's `with:` options never reach it.
 */
function replacesPlugin(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return typeof a.use === 'string' && typeof b.use === 'string' && a.use !== b.use;
}

/**
 * Deep merge: maps merge key by key, anything else (lists included) is replaced by `over`; a plugin
 * block whose `use:` changes is replaced whole; `~key` in `over` deletes `key` from `base`.
 */
export function mergeLayers(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  const merge = (a: Json, b: Json, pointer: string): Json => {
    if (isPlainObject(a) && isPlainObject(b) && !replacesPlugin(a, b)) {
      for (const [k, v] of Object.entries(b)) {
        const child = pointer + toPointer([k]);
        if (k.startsWith(DELETE_PREFIX)) {
          const target = k.slice(DELETE_PREFIX.length);
          const where = over.origins.locate(child, true);
          if (!(target in a)) {
            const known = Object.keys(a).filter((x) => !x.startsWith(DELETE_PREFIX));
            throw new UserError(
              `${formatOrigin(where)}: ${k}: there is no inherited key "${target}" to delete here` +
                `${known.length ? ` (inherited: ${known.join(', ')})` : ''}. Remove the line or fix the name.`,
            );
          }
          if (v !== null && v !== undefined) {
            throw new UserError(`${formatOrigin(where)}: ${k}: a deletion takes no value; write "${k}: null" or "${k}:".`);
          }
          delete a[target];
          base.origins.deleteSubtree(pointer + toPointer([target]));
          continue;
        }
        if (k in a) {
          a[k] = merge(a[k], v, child);
          const o = over.origins.get(child);
          if (o) base.origins.set(child, o);
        } else {
          a[k] = v;
          base.origins.copySubtree(over.origins, child);
        }
      }
      return a;
    }
    base.origins.deleteSubtree(pointer);
    base.origins.copySubtree(over.origins, pointer);
    return b;
  };
  merge(base.value, over.value, '');
  rejectDeletions(base);
  // The file on top is the one errors without a more precise place should name.
  const root = over.origins.get('');
  if (root) base.origins.set('', root);
  return base;
}

/**
 * Loads a config file and everything it `extends:` (a path or list of paths relative to it).
 * Bases merge in order, then the file itself on top.
 */
export function loadLayered(file: string, chain: string[] = [], from?: { origin: Origin; what: string }): ConfigLayer {
  const text = readConfigFile(file, from);
  const layer = parseConfigFile(file, text);
  const ext = layer.value.extends;
  if (ext === undefined) {
    rejectDeletions(layer);
    return layer;
  }
  const extOrigin = layer.origins.locate('/extends');
  const list = typeof ext === 'string' ? [ext] : ext;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x === '')) {
    throw new UserError(`${formatOrigin(extOrigin)}: extends: expected a file path or a list of file paths, got ${JSON.stringify(ext)}.`);
  }
  const itemOrigins = (list as string[]).map((_, i) => layer.origins.locate(Array.isArray(ext) ? `/extends/${i}` : '/extends'));
  delete layer.value.extends;
  layer.origins.deleteSubtree('/extends');
  const here = [...chain, file];
  let merged: ConfigLayer | null = null;
  for (const [i, rel] of (list as string[]).entries()) {
    const target = path.resolve(path.dirname(file), rel);
    const what = Array.isArray(ext) ? `extends.${i}` : 'extends';
    const itemOrigin = itemOrigins[i];
    if (here.includes(target)) {
      const cycle = [...here.slice(here.indexOf(target)), target].map(displayPath).join(' → ');
      throw new UserError(`${formatOrigin(itemOrigin)}: ${what}: extends cycle: ${cycle}. Remove one of these extends.`);
    }
    const base = loadLayered(target, here, { origin: itemOrigin, what });
    merged = merged ? mergeLayers(merged, base) : base;
  }
  return merged ? mergeLayers(merged, layer) : layer;
}

/** A `~key` left after merging (or in a file that extends nothing) deletes nothing: an error naming it. */
function rejectDeletions(layer: ConfigLayer): void {
  const visit = (v: Json, segs: Segment[]): void => {
    if (Array.isArray(v)) v.forEach((item, i) => visit(item, [...segs, i]));
    if (!isPlainObject(v)) return;
    for (const [k, child] of Object.entries(v)) {
      if (k.startsWith(DELETE_PREFIX)) {
        const where = layer.origins.locate(toPointer([...segs, k]), true);
        throw new UserError(
          `${formatOrigin(where)}: ${[...segs, k].join('.')}: "${k}" deletes an inherited key, but nothing is inherited here. ` +
            `Use it in a config that extends another, or remove the line.`,
        );
      }
      visit(child, [...segs, k]);
    }
  };
  visit(layer.value, []);
}

function usage(arg: string, problem: string): UserError {
  return new UserError(`--set ${arg}: ${problem} Write --set key.path=value, e.g. --set train.phases.0.lr=1e-4.`, 2);
}

/** Applies one `--set a.b.0.c=value` (value parsed as YAML); numeric parts index lists. */
export function applySet(layer: ConfigLayer, arg: string): void {
  if (arg.startsWith(DELETE_PREFIX)) return deleteAt(layer, arg);
  const eq = arg.indexOf('=');
  if (eq <= 0) throw usage(arg, eq === 0 ? 'the key path is empty.' : 'missing "=".');
  const keyPath = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1);
  const parts = keyPath.split('.');
  if (parts.some((p) => p === '')) throw usage(arg, `"${keyPath}" has an empty part.`);
  if (parts[0] === 'extends') throw usage(arg, '--set applies after extends, so it cannot change extends; edit the file.');
  let value: unknown;
  try {
    value = raw.trim() === '' ? '' : parseYaml(raw);
  } catch (e) {
    throw usage(arg, `the value is not valid YAML (${(e as Error).message.split('\n')[0]}).`);
  }
  const origin: Origin = { set: arg };
  let container: unknown = layer.value;
  const segs: Segment[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const last = i === parts.length - 1;
    let seg: Segment = part;
    if (Array.isArray(container)) {
      if (!/^\d+$/.test(part)) throw usage(arg, `${segs.join('.') || '(top level)'} is a list; "${part}" is not an index.`);
      const idx = Number(part);
      if (idx > container.length) {
        throw usage(arg, `${segs.join('.')} has ${container.length} item(s); index ${idx} would leave a gap.`);
      }
      seg = idx;
    } else if (!isPlainObject(container)) {
      throw usage(arg, `${segs.join('.')} is ${JSON.stringify(container)}, not a map or list, so it has no "${part}".`);
    }
    const holder = container as Record<string | number, unknown>;
    segs.push(seg);
    if (last) {
      // A different plugin: the block's old `with:` options belong to the old one (Hydra's groups).
      if (seg === 'use' && typeof holder.use === 'string' && holder.use !== value && 'with' in holder) {
        delete holder.with;
        layer.origins.deleteSubtree(toPointer([...segs.slice(0, -1), 'with']));
      }
      holder[seg] = value;
      layer.origins.deleteSubtree(toPointer(segs));
      layer.origins.set(toPointer(segs), { value: origin });
    } else {
      if (holder[seg] === undefined || holder[seg] === null) {
        holder[seg] = /^\d+$/.test(parts[i + 1]) ? [] : {};
        layer.origins.set(toPointer(segs), { value: origin });
      }
      container = holder[seg];
    }
  }
}

/** `--set ~key.path`: deletes an inherited key (or list item), Hydra's `~key`. */
function deleteAt(layer: ConfigLayer, arg: string): void {
  const keyPath = arg.slice(DELETE_PREFIX.length).trim();
  if (arg.includes('=')) throw usage(arg, 'a deletion takes no value: write --set ~key.path.');
  const parts = keyPath.split('.');
  if (keyPath === '' || parts.some((p) => p === '')) throw usage(arg, `"${keyPath}" has an empty part.`);
  let container: unknown = layer.value;
  const segs: Segment[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (Array.isArray(container)) {
      // Removing an item would shift the file positions of the items after it.
      throw usage(arg, `${segs.join('.')} is a list: replace it whole instead (--set ${segs.join('.')}=[…]).`);
    }
    const seg: Segment = part;
    const holder = container as Record<string | number, unknown>;
    const exists = isPlainObject(container) && part in container;
    if (!exists) {
      const here = segs.join('.') || '(top level)';
      const keys = isPlainObject(container) ? ` (it has: ${Object.keys(container).join(', ')})` : '';
      throw new UserError(`--set ${arg}: ${here} has no "${part}" to delete${keys}. Check the key path.`, 2);
    }
    segs.push(seg);
    if (i === parts.length - 1) {
      delete holder[seg];
      layer.origins.deleteSubtree(toPointer(segs));
    } else {
      container = holder[seg];
    }
  }
}
