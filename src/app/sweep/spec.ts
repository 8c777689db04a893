// What a sweep asks for, as trials: each trial is a list of `key=value` overrides (applied like
// `--set`). Value specs follow Hydra's sweeper syntax: `a,b,c`, `range(start,stop[,step])`,
// `choice(a,b)`, and for random search `interval(lo,hi)`.
import { UserError } from '../../base/errors.js';
import { SeededRng } from '../../base/random.js';

export type SweepMethod = 'grid' | 'random';

/** One swept key: either a finite list of values (as --set value strings) or a continuous interval. */
export type ParamSpace = { key: string; values: string[] } | { key: string; interval: [number, number] };

export interface Trial {
  /** 1-based, stable for a given request. */
  index: number;
  /** `key=value` overrides in the order the params were given. */
  overrides: string[];
  /** Short name for tables and MLflow: last key segments, e.g. `lr=0.003,depth=18`. */
  name: string;
}

const FIX = 'Write e.g. `-p train.lr=1e-3,3e-3`, `-p backbone.with.depth=range(18,35,16)` or `-p seed=choice(1,2,3)`.';

/** Splits at top-level commas (not inside brackets, braces, parentheses or quotes). */
export function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if ('[{('.includes(ch)) depth++;
    else if (']})'.includes(ch)) depth--;
    else if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function number(text: string, where: string): number {
  const v = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(v)) throw new UserError(`${where}: "${text.trim()}" is not a number. ${FIX}`);
  return v;
}

/** A param's values from its spec: a YAML list (values as given) or a spec string. */
export function parseParamSpace(key: string, spec: unknown, where = `sweep param ${key}`): ParamSpace {
  if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_-]+)*$/.test(key))
    throw new UserError(`${where}: "${key}" is not a dotted config key (such as train.lr). ${FIX}`);
  if (Array.isArray(spec)) {
    if (spec.length === 0) throw new UserError(`${where}: the list of values is empty. ${FIX}`);
    return { key, values: spec.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) };
  }
  if (typeof spec === 'number' || typeof spec === 'boolean') return { key, values: [String(spec)] };
  if (typeof spec !== 'string' || spec.trim() === '') throw new UserError(`${where}: give values. ${FIX}`);
  const text = spec.trim();
  const call = /^(range|choice|interval)\((.*)\)$/s.exec(text);
  if (!call) return { key, values: splitTopLevel(text).map((v, i, all) => nonEmpty(v, i, all, where)) };
  const [, fn, inner] = call;
  const args = splitTopLevel(inner);
  if (fn === 'choice') return { key, values: args.map((v, i, all) => nonEmpty(v, i, all, where)) };
  if (fn === 'interval') {
    if (args.length !== 2) throw new UserError(`${where}: interval takes two numbers, interval(lo,hi). ${FIX}`);
    const [lo, hi] = args.map((a) => number(a, where));
    if (!(lo < hi)) throw new UserError(`${where}: interval(${lo},${hi}) needs lo < hi.`);
    return { key, interval: [lo, hi] };
  }
  // range(stop) | range(start, stop) | range(start, stop, step), stop excluded, as Python's (Hydra's).
  const named = args.map((a) => a.replace(/^(start|stop|step)\s*=\s*/, ''));
  if (named.length < 1 || named.length > 3) throw new UserError(`${where}: range takes 1 to 3 numbers, range(start,stop[,step]). ${FIX}`);
  const nums = named.map((a) => number(a, where));
  const [start, stop, step] = nums.length === 1 ? [0, nums[0], 1] : [nums[0], nums[1], nums[2] ?? 1];
  if (step === 0) throw new UserError(`${where}: range step cannot be 0.`);
  const values: string[] = [];
  for (let v = start; step > 0 ? v < stop - 1e-12 : v > stop + 1e-12; v += step) {
    values.push(String(Math.round(v * 1e12) / 1e12));
    if (values.length > 10_000) throw new UserError(`${where}: range(${args.join(',')}) has more than 10000 values.`);
  }
  if (values.length === 0) throw new UserError(`${where}: range(${args.join(',')}) is empty (stop is excluded, as in Python).`);
  return { key, values };
}

function nonEmpty(v: string, i: number, all: string[], where: string): string {
  if (v === '' && all.length > 1) throw new UserError(`${where}: value ${i + 1} of ${all.length} is empty (a stray comma?). ${FIX}`);
  return v;
}

/** `-p key=spec` as the CLI takes it. */
export function parseParamFlag(flag: string): ParamSpace {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new UserError(`-p ${flag}: expected key=values. ${FIX}`);
  return parseParamSpace(flag.slice(0, eq).trim(), flag.slice(eq + 1), `-p ${flag}`);
}

/** Trial names: the last segment of each key, or the whole key where last segments collide. */
function trialName(spaces: ParamSpace[], values: string[]): string {
  const last = spaces.map((s) => s.key.split('.').at(-1)!);
  return spaces.map((s, i) => `${last.filter((l) => l === last[i]).length > 1 ? s.key : last[i]}=${values[i]}`).join(',');
}

function trial(index: number, spaces: ParamSpace[], values: string[]): Trial {
  return { index, overrides: spaces.map((s, i) => `${s.key}=${values[i]}`), name: trialName(spaces, values) };
}

export interface SweepPlan {
  method: SweepMethod;
  trials?: number;
  seed: number;
}

/** The trials of a request: every combination (grid), or `trials` seeded draws (random). */
export function expandTrials(spaces: ParamSpace[], plan: SweepPlan): Trial[] {
  if (spaces.length === 0) throw new UserError(`Nothing to sweep: give params with -p key=values or a sweep: block with params. ${FIX}`);
  if (plan.method === 'grid') {
    const continuous = spaces.find((s) => 'interval' in s);
    if (continuous) throw new UserError(`sweep param ${continuous.key}: interval(…) is continuous and needs --method random (with --trials N).`);
    if (plan.trials !== undefined)
      throw new UserError('--trials is for random search; a grid runs every combination (use --method random to draw a number of trials).');
    const lists = spaces.map((s) => (s as { values: string[] }).values);
    const total = lists.reduce((n, l) => n * l.length, 1);
    if (total > 10_000) throw new UserError(`The grid has ${total} trials (more than 10000). Sweep fewer values, or use --method random --trials N.`);
    const out: Trial[] = [];
    const idx = lists.map(() => 0);
    for (let t = 0; t < total; t++) {
      out.push(
        trial(
          t + 1,
          spaces,
          idx.map((i, k) => lists[k][i]),
        ),
      );
      // Last param varies fastest, as Hydra's basic sweeper.
      for (let k = lists.length - 1; k >= 0; k--) {
        if (++idx[k] < lists[k].length) break;
        idx[k] = 0;
      }
    }
    return out;
  }
  if (plan.trials === undefined) throw new UserError('Random search needs a trial count: --trials N (or trials: N in the sweep: block).');
  const rng = new SeededRng(plan.seed);
  const draw = () =>
    spaces.map((s) =>
      'interval' in s ? String(Number(rng.uniform(s.interval[0], s.interval[1]).toPrecision(6))) : s.values[Math.floor(rng.next() * s.values.length)],
    );
  const discrete = spaces.every((s) => 'values' in s);
  const size = discrete ? spaces.reduce((n, s) => n * (s as { values: string[] }).values.length, 1) : Infinity;
  const seen = new Set<string>();
  const out: Trial[] = [];
  while (out.length < plan.trials) {
    let values = draw();
    // Distinct trials while the space has room for them.
    for (let tries = 0; seen.has(values.join('\u0000')) && seen.size < size && tries < 1000; tries++) values = draw();
    seen.add(values.join('\u0000'));
    out.push(trial(out.length + 1, spaces, values));
  }
  return out;
}
