// Turns ajv errors into one line each: `<file>:<line>:<col>: <key.path>: <what was expected>`.
import type { ErrorObject } from 'ajv';
import { didYouMean } from '../../base/suggest.js';
import { dottedPath, formatOrigin, toPointer, type OriginMap } from './origins.js';

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a map (key: value)',
  array: 'a list',
  null: 'null',
};

/** A value as it would appear in YAML, shortened. */
export function showValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (empty)';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // JSON would say null
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `a list ${clip(JSON.stringify(v))}`;
  if (typeof v === 'object') return `a map ${clip(JSON.stringify(v))}`;
  return clip(JSON.stringify(v));
}

function clip(s: string): string {
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function typeList(t: unknown): string {
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => TYPE_NAMES[String(x)] ?? String(x)).join(' or ');
}

/** Drops branch errors of an anyOf/oneOf that has a `description`: that description says it better. */
function collapseAlternatives(errors: ErrorObject[]): ErrorObject[] {
  const described = errors.filter(
    (e) =>
      (e.keyword === 'anyOf' || (e.keyword === 'oneOf' && !e.params?.passingSchemas)) &&
      typeof (e.parentSchema as { description?: unknown } | undefined)?.description === 'string',
  );
  return errors.filter(
    (e) => !described.some((d) => d !== e && e.schemaPath.startsWith(d.schemaPath + '/') && e.instancePath.startsWith(d.instancePath)),
  );
}

/**
 * Formats ajv errors. `base` is the JSON Pointer of the validated value inside the whole config
 * (e.g. `/data/with` for plugin options), so locations and key paths refer to the config file.
 */
export function formatSchemaErrors(errors: ErrorObject[], origins: OriginMap, base = ''): string[] {
  const lines = new Set<string>();
  for (const e of collapseAlternatives(errors)) {
    const at = base + e.instancePath;
    const p = e.params as Record<string, any>;
    let pointer = at;
    let preferKey = false;
    let what: string;
    switch (e.keyword) {
      case 'additionalProperties': {
        pointer = at + toPointer([p.additionalProperty]);
        preferKey = true;
        const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
        what =
          `unknown key; ${allowed.length ? `allowed here: ${allowed.join(', ')}.` : 'no keys are allowed here.'}` +
          didYouMean(String(p.additionalProperty), allowed);
        break;
      }
      case 'required': {
        // The key does not exist, so point at the map that lacks it.
        what = `required key "${p.missingProperty}" is missing.`;
        break;
      }
      case 'type': {
        what = `expected ${typeList(p.type)}, got ${showValue(e.data)}.`;
        // `backbone: resnet` is the common slip for a plugin reference.
        const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
        if (typeof e.data === 'string' && props && 'use' in props && 'with' in props) what += ` Write {use: ${e.data}}.`;
        break;
      }
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        what = `expected ${(e.parentSchema as { type?: unknown } | undefined)?.type === 'integer' ? 'an integer' : 'a number'} ${p.comparison} ${p.limit}, got ${showValue(e.data)}.`;
        break;
      case 'enum': {
        const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v));
        what =
          `expected one of ${allowed.join(', ')}; got ${showValue(e.data)}.` +
          (typeof e.data === 'string' ? didYouMean(e.data, (p.allowedValues as unknown[]).map(String)) : '');
        break;
      }
      case 'const':
        what = `expected ${JSON.stringify(p.allowedValue)}, got ${showValue(e.data)}.`;
        break;
      case 'minItems':
        what = `expected a list of at least ${p.limit} item(s), got ${(e.data as unknown[]).length}.`;
        break;
      case 'maxItems':
        what = `expected a list of at most ${p.limit} item(s), got ${(e.data as unknown[]).length}.`;
        break;
      case 'minLength':
        what = p.limit === 1 ? 'expected a non-empty string.' : `expected at least ${p.limit} characters.`;
        break;
      case 'anyOf':
      case 'oneOf': {
        const desc = (e.parentSchema as { description?: string } | undefined)?.description;
        what = desc ? `expected ${desc}; got ${showValue(e.data)}.` : `${e.message}.`;
        break;
      }
      case 'not': {
        // A rule between keys (`if`/`then` with `not`) says in its description what to change.
        const desc = (e.parentSchema as { description?: string } | undefined)?.description;
        what = desc ? `${desc}; got ${showValue(e.data)}.` : `${e.message}.`;
        break;
      }
      case 'if':
        continue; // the failing `then` branch has its own error, which says more
      case 'false schema':
        what = 'no value is allowed here (too many items?).';
        break;
      default:
        what = `${e.message ?? e.keyword}.`;
    }
    const line = `${formatOrigin(origins.locate(pointer, preferKey))}: ${dottedPath(pointer)}: ${what}`;
    lines.add(line);
  }
  return [...lines];
}
