// Plugin documentation derived from each plugin's options schema (for `gzx plugins`).
import type { JsonSchema, PluginDefinition, PluginKind } from '../plugin.js';
import type { PluginRegistry } from '../registry.js';

export interface OptionInfo {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
}

export interface PluginInfo {
  kind: PluginKind;
  name: string;
  description: string;
  options: OptionInfo[];
  /** The services it declares in `inject:` (absent when none). */
  inject?: string[];
}

/** A short type label: `number`, `integer 1..64`, `"a" | "b"`, `list of string`. */
export function schemaType(s: JsonSchema | undefined, doc?: JsonSchema): string {
  if (!s || typeof s !== 'object') return 'any';
  const ref = s.$ref;
  if (typeof ref === 'string' && ref.startsWith('#/$defs/') && doc) {
    return schemaType(((doc.$defs ?? {}) as Record<string, JsonSchema>)[ref.slice(8)], doc);
  }
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if ('const' in s) return JSON.stringify(s.const);
  for (const k of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[k])) return (s[k] as JsonSchema[]).map((x) => schemaType(x, doc)).join(' | ');
  }
  const t = Array.isArray(s.type) ? s.type.join(' | ') : typeof s.type === 'string' ? s.type : 'any';
  if (t === 'array') {
    if (Array.isArray(s.prefixItems)) return `[${(s.prefixItems as JsonSchema[]).map((x) => schemaType(x, doc)).join(', ')}]`;
    return `list of ${schemaType(s.items as JsonSchema | undefined, doc)}`;
  }
  if (t === 'number' || t === 'integer') {
    const lo = s.minimum ?? s.exclusiveMinimum;
    const hi = s.maximum ?? s.exclusiveMaximum;
    if (lo === undefined && hi === undefined) return t;
    const l = lo === undefined ? '' : `${s.exclusiveMinimum !== undefined ? '>' : '≥'}${lo as number}`;
    const h = hi === undefined ? '' : `${s.exclusiveMaximum !== undefined ? '<' : '≤'}${hi as number}`;
    return `${t} ${[l, h].filter(Boolean).join(', ')}`;
  }
  return t;
}

export function describePlugin(def: PluginDefinition): PluginInfo {
  const schema = def.optionsSchema ?? {};
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return {
    kind: def.kind,
    name: def.name,
    description: def.description,
    options: Object.entries(props).map(([name, s]) => ({
      name,
      type: schemaType(s, schema),
      required: required.has(name),
      ...('default' in s ? { default: s.default } : {}),
      description: typeof s.description === 'string' ? s.description : '',
    })),
    ...(Array.isArray(def.inject) && def.inject.length > 0 ? { inject: [...def.inject] } : {}),
  };
}

export function describePlugins(registry: PluginRegistry, kind?: PluginKind): PluginInfo[] {
  return registry.list(kind).map(describePlugin);
}

/** Human text: one block per plugin, options indented beneath it. */
export function formatPluginList(infos: PluginInfo[]): string {
  const out: string[] = [];
  for (const p of infos) {
    out.push(`${p.kind}/${p.name}  ${p.description}`);
    if (p.inject) out.push(`    services (inject): ${p.inject.join(', ')}`);
    if (p.options.length === 0) out.push('    (no options)');
    for (const o of p.options) {
      const def = o.required ? ' (required)' : 'default' in o ? ` = ${JSON.stringify(o.default)}` : '';
      out.push(`    ${o.name}: ${o.type}${def}${o.description ? `  ${o.description}` : ''}`);
    }
  }
  return out.join('\n') + '\n';
}
