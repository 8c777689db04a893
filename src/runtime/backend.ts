// Chooses the TensorFlow.js backend once per process: tensorflow-gpu > tensorflow > wasm > cpu,
// and says why each better candidate did not run. The whole app shares one tfjs instance
// (`import * as tf from '@tensorflow/tfjs'`), so every candidate must register into it.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../base/errors.js';
import { registerWasmKernels } from './wasm/index.js';
import { registerNativeKernels } from './native/index.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendReason {
  candidate: string;
  ok: boolean;
  why: string;
}

export interface BackendReport {
  name: BackendName;
  package: string;
  version: string;
  threads: number;
  /** Native TensorFlow only: its intra-op and inter-op thread pools and where the numbers came from. */
  nativeThreads?: NativeThreads;
  gpu: boolean;
  reasons: BackendReason[];
}

/** The `threads` config key: the native TensorFlow backend's thread pools. */
export interface ThreadsConfig {
  intra_op: number | 'auto';
  inter_op: number | 'auto';
}

export interface NativeThreads {
  /** Threads one op (a convolution, a matrix product) is split over. */
  intraOp: number;
  /** Ops of a graph that may run at the same time. */
  interOp: number;
  /** Where the numbers came from, for the backend line and `gzx doctor`. */
  why: string;
}

/** One row of `gzx doctor`. */
export interface BackendDescription {
  candidate: string;
  backend: BackendName;
  package: string;
  loads: boolean;
  version: string | null;
  threads: number | null;
  nativeThreads?: NativeThreads;
  gpu: boolean;
  why: string;
}

const requireHere = createRequire(import.meta.url);

const TF_NODE_GPU = '@tensorflow/tfjs-node-gpu';
const TF_NODE = '@tensorflow/tfjs-node';
const TF_WASM = '@tensorflow/tfjs-backend-wasm';
const TF_CORE = '@tensorflow/tfjs-core';

const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/** A backend that loaded: its report before the reasons are added. */
type Loaded = Omit<BackendReport, 'reasons'>;

type Attempt = { ok: true; loaded: Loaded; why: string } | { ok: false; why: string };

interface Candidate {
  label: string;
  backend: BackendName;
  package: string;
  gpu: boolean;
  load(threads?: Partial<ThreadsConfig>): Promise<Attempt>;
}

const INTRA_ENV = 'TF_NUM_INTRAOP_THREADS';
const INTER_ENV = 'TF_NUM_INTEROP_THREADS';
/** How many gzx runs share this machine (a sweep running trials side by side sets it): `auto` divides the cores among them. */
const CONCURRENT_RUNS_ENV = 'GZX_CONCURRENT_RUNS';

function positiveInt(v: string | undefined): number | null {
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) return null;
  const n = Number(v);
  return n >= 1 ? n : null;
}

/**
 * The native backend's thread pools for a `threads` config. Each of intra_op / inter_op is, in order:
 * the config's number; else TensorFlow's own environment variable (TF_NUM_INTRAOP_THREADS /
 * TF_NUM_INTEROP_THREADS) when set; else `auto`: intra-op = the cores this process may use
 * (its CPU affinity, so `taskset` counts) divided by GZX_CONCURRENT_RUNS (default 1), at least 1;
 * inter-op = the same number for a run alone (TensorFlow's and Keras' own default; on 2 cores
 * inter-op 2 beat 1 in 8 of 10 alternating comparisons, bench/README.md "Threads"), 1 when
 * GZX_CONCURRENT_RUNS says runs share the machine (no second op's threads on another run's cores).
 */
export function resolveNativeThreads(
  config: Partial<ThreadsConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
  cores: number = os.availableParallelism(),
): NativeThreads {
  const notes: string[] = [];
  const runs = positiveInt(env[CONCURRENT_RUNS_ENV]);
  const pick = (key: 'intra_op' | 'inter_op', envName: string, auto: () => number): number => {
    const v = config[key];
    if (typeof v === 'number') {
      notes.push(`${key} ${v} from the config`);
      return v;
    }
    const fromEnv = positiveInt(env[envName]);
    if (fromEnv !== null) {
      notes.push(`${key} from ${envName}`);
      return fromEnv;
    }
    return auto();
  };
  const intraOp = pick('intra_op', INTRA_ENV, () => {
    const n = Math.max(1, Math.floor(cores / (runs ?? 1)));
    notes.push(runs ? `intra_op auto: ${cores} cores / ${CONCURRENT_RUNS_ENV}=${runs}` : `intra_op auto: ${cores} cores`);
    return n;
  });
  const interOp = pick('inter_op', INTER_ENV, () => {
    const shared = (runs ?? 1) > 1;
    notes.push(shared ? `inter_op auto: 1 (${CONCURRENT_RUNS_ENV}=${runs})` : 'inter_op auto: as intra_op');
    return shared ? 1 : intraOp;
  });
  return { intraOp, interOp, why: notes.join(', ') };
}

/** The thread pools libtensorflow was loaded with in this process (it reads them once, at load). */
let appliedThreads: NativeThreads | null = null;

/**
 * Sets TensorFlow's thread variables before libtensorflow loads, or, when it already has in this
 * process, returns what it runs with and notes that a different request cannot apply here.
 */
function applyNativeThreads(config: Partial<ThreadsConfig> | undefined): NativeThreads {
  const wanted = resolveNativeThreads(config);
  if (appliedThreads === null) {
    process.env[INTRA_ENV] = String(wanted.intraOp);
    process.env[INTER_ENV] = String(wanted.interOp);
    appliedThreads = wanted;
    return wanted;
  }
  if (config && (wanted.intraOp !== appliedThreads.intraOp || wanted.interOp !== appliedThreads.interOp)) {
    return {
      ...appliedThreads,
      why: `${appliedThreads.why}; TensorFlow was already loaded in this process, so intra_op ${wanted.intraOp} / inter_op ${wanted.interOp} cannot apply here`,
    };
  }
  return appliedThreads;
}

/** "intra-op 2 / inter-op 1 threads (…why…)" */
export function describeNativeThreads(t: NativeThreads): string {
  return `intra-op ${t.intraOp} / inter-op ${t.interOp} threads (${t.why})`;
}

/** Installed version of a package, or null when it is not installed. */
export function packageVersion(pkg: string): string | null {
  const versionIn = (file: string): string | null => {
    try {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      return json.name === pkg ? (json.version ?? null) : null;
    } catch {
      return null;
    }
  };
  try {
    return versionIn(requireHere.resolve(`${pkg}/package.json`));
  } catch {
    // Packages whose `exports` hide package.json (sharp): walk up from the entry point.
  }
  try {
    let dir = path.dirname(requireHere.resolve(pkg));
    while (dir !== path.dirname(dir)) {
      const version = versionIn(path.join(dir, 'package.json'));
      if (version) return version;
      dir = path.dirname(dir);
    }
  } catch {
    // not installed
  }
  return null;
}

function isNotInstalled(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string };
  const code = err?.code ?? '';
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && (err.message ?? '').includes(pkg);
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return msg.split('\n')[0].trim();
}

/**
 * tf.setBackend swallows an init failure (console.warn + `false`) and leaves the old backend
 * active; capture the warning so the report can say why.
 */
async function setBackendCapturingWarnings(name: string): Promise<{ ok: boolean; warning: string }> {
  const warnings: string[] = [];
  const originalWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' '));
  };
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    ok = false;
    warnings.push(firstLine(e));
  } finally {
    console.warn = originalWarn;
  }
  return { ok: ok && tf.getBackend() === name, warning: warnings.join(' ').split('\n')[0] };
}

function tensorflowCandidate(pkg: string, label: string, gpu: boolean): Candidate {
  return {
    label,
    backend: 'tensorflow',
    package: pkg,
    gpu,
    async load(threads?: Partial<ThreadsConfig>) {
      // libtensorflow logs info lines to stderr on load unless told not to.
      process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
      // libtensorflow reads its thread pool sizes from the environment once, when it loads.
      const nativeThreads = applyNativeThreads(threads);
      const originalWarn = console.warn;
      // Under vite-node/vitest tfjs-node's CJS copy of tfjs re-registers every kernel into the shared
      // registry and warns once per kernel; those lines are noise.
      console.warn = (...args: unknown[]) => {
        if (!/is already registered/.test(String(args[0]))) originalWarn(...args);
      };
      try {
        await import(pkg);
      } catch (e) {
        if (isNotInstalled(e, pkg)) {
          return { ok: false, why: `${pkg} not installed (its install script needs to download libtensorflow)` };
        }
        return { ok: false, why: `${pkg} failed to load: ${firstLine(e)}` };
      } finally {
        console.warn = originalWarn;
      }
      // tfjs-node registers into whichever tfjs-core it resolved; if that is a second copy,
      // our `tf` never sees the backend.
      if (!tf.findBackendFactory('tensorflow')) {
        const theirs = packageVersion(TF_CORE);
        return {
          ok: false,
          why: `${pkg} loaded but registered with a different copy of ${TF_CORE} (ours ${tf.version_core}, found ${theirs ?? '?'}); run \`npm dedupe\` so both use one`,
        };
      }
      const set = await setBackendCapturingWarnings('tensorflow');
      if (!set.ok) return { ok: false, why: `${pkg} installed but its backend did not initialise: ${set.warning || 'unknown error'}` };
      registerNativeKernels();
      // The CUDA build runs on the CPU when TensorFlow finds no usable GPU (no device, no driver):
      // then it gets the CPU's kernels and compiled passes, as registerNativeKernels decides.
      const native = tf.backend() as unknown as { isUsingGpuDevice?: boolean; binding?: { TF_Version?: string } };
      const onGpu = native.isUsingGpuDevice === true;
      const library = `native libtensorflow ${native.binding?.TF_Version ?? '?'}${gpu ? ' (CUDA build)' : ''}`;
      const where = gpu ? (onGpu ? ' on the GPU' : ' found no GPU device, so it trains on the CPU') : '';
      return {
        ok: true,
        why:
          `${library}${where}, with gzx's fused batch norm, ReluGrad${onGpu ? '' : ', head kernels'} and optimiser updates` +
          (onGpu ? '' : '; training passes compiled into TensorFlow graphs (train.compile)'),
        loaded: { name: 'tensorflow', package: pkg, version: packageVersion(pkg) ?? '?', threads: nativeThreads.intraOp, nativeThreads, gpu: onGpu },
      };
    },
  };
}

let wasmPathsSet = false;

async function loadWasm(): Promise<Attempt> {
  let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasmModule = await import(TF_WASM);
  } catch (e) {
    if (isNotInstalled(e, TF_WASM)) return { ok: false, why: `${TF_WASM} not installed (run \`npm install\`)` };
    return { ok: false, why: `${TF_WASM} failed to load: ${firstLine(e)}` };
  }
  if (!wasmPathsSet) {
    // In Node the emscripten loader reads the .wasm with fs; point it at the package's dist folder.
    const dist = path.dirname(requireHere.resolve(TF_WASM));
    const map = Object.fromEntries(WASM_BINARIES.map((f) => [f, path.join(dist, f)]));
    try {
      wasmModule.setWasmPaths(map);
    } catch {
      // Already initialised earlier in this process: the paths are already in use.
    }
    wasmPathsSet = true;
  }
  const set = await setBackendCapturingWarnings('wasm');
  if (!set.ok) {
    return { ok: false, why: `${TF_WASM} did not initialise (tfjs fell back to ${tf.getBackend()}): ${set.warning || 'unknown error'}` };
  }
  registerWasmKernels();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return {
    ok: true,
    why: `WebAssembly${simd ? ' with SIMD' : ''} (XNNPACK), with gzx's gradient kernels and fused batch norm`,
    loaded: { name: 'wasm', package: TF_WASM, version: packageVersion(TF_WASM) ?? '?', threads: wasmModule.getThreadsCount(), gpu: false },
  };
}

async function loadCpu(): Promise<Attempt> {
  const set = await setBackendCapturingWarnings('cpu');
  if (!set.ok) return { ok: false, why: `cpu backend did not initialise: ${set.warning || 'unknown error'}` };
  return {
    ok: true,
    why: 'plain JavaScript (slowest)',
    loaded: {
      name: 'cpu',
      package: '@tensorflow/tfjs-backend-cpu',
      version: packageVersion('@tensorflow/tfjs-backend-cpu') ?? tf.version_core,
      threads: 1,
      gpu: false,
    },
  };
}

const CANDIDATES: Candidate[] = [
  tensorflowCandidate(TF_NODE_GPU, 'tensorflow-gpu', true),
  tensorflowCandidate(TF_NODE, 'tensorflow', false),
  { label: 'wasm', backend: 'wasm', package: TF_WASM, gpu: false, load: loadWasm },
  { label: 'cpu', backend: 'cpu', package: '@tensorflow/tfjs-backend-cpu', gpu: false, load: loadCpu },
];

const FIX: Record<BackendName, string> = {
  tensorflow:
    `run \`npm run setup:native\` (builds ${TF_NODE} against libtensorflow from PyPI, see docs/native.md) or ` +
    `\`npm install ${TF_NODE}\` where storage.googleapis.com is reachable, or use \`backend: auto\` (or wasm) in the config`,
  wasm: `reinstall dependencies with \`npm ci\` so ${TF_WASM} and its .wasm files are present, or use \`backend: auto\` (or cpu)`,
  cpu: 'reinstall dependencies with `npm ci`',
};

let chosen: { preference: BackendPreference; report: BackendReport } | null = null;

/**
 * Activates the best backend allowed by `preference` and logs which one runs and why the
 * better ones did not. Calling again returns the same choice without reloading anything.
 */
export async function selectBackend(
  preference: BackendPreference,
  log: (m: string) => void,
  threads?: Partial<ThreadsConfig>,
): Promise<BackendReport> {
  if (chosen && chosen.preference === preference && tf.getBackend() === chosen.report.name) {
    if (chosen.report.nativeThreads && threads) {
      const now = applyNativeThreads(threads);
      if (now.why !== chosen.report.nativeThreads.why) log(`backend: ${chosen.report.name}, ${describeNativeThreads(now)}`);
    }
    return chosen.report;
  }
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(preference)) {
    throw new UserError(`backend: "${preference}" is not one of auto, tensorflow, wasm, cpu.`);
  }
  const candidates = preference === 'auto' ? CANDIDATES : CANDIDATES.filter((c) => c.backend === preference);
  const reasons: BackendReason[] = [];
  for (const c of candidates) {
    const attempt = await c.load(threads);
    reasons.push({ candidate: c.label, ok: attempt.ok, why: attempt.why });
    if (attempt.ok) {
      const report: BackendReport = { ...attempt.loaded, reasons };
      const threads = report.nativeThreads
        ? describeNativeThreads(report.nativeThreads)
        : `${report.threads} thread${report.threads === 1 ? '' : 's'}`;
      log(`backend: ${c.label} (${report.package} ${report.version}, ${threads}) — ${attempt.why}`);
      for (const r of reasons.filter((r) => !r.ok)) log(`  not ${r.candidate}: ${r.why}`);
      chosen = { preference, report };
      return report;
    }
  }
  // Only a forced preference can get here: cpu always loads under auto.
  const name = preference as BackendName;
  throw new UserError(
    `backend: ${name} was requested but cannot load: ${reasons.map((r) => `${r.candidate}: ${r.why}`).join('; ')}. Fix: ${FIX[name]}.`,
  );
}

/** The backend chosen by selectBackend in this process, if any. */
export function currentBackend(): BackendReport | null {
  return chosen && tf.getBackend() === chosen.report.name ? chosen.report : null;
}

/**
 * Tries every candidate (for `gzx doctor`) and reports whether it loads, its version and threads.
 * Leaves the previously active backend (if one was chosen) active again.
 */
export async function describeBackends(): Promise<BackendDescription[]> {
  const before = chosen ? tf.getBackend() : null;
  const rows: BackendDescription[] = [];
  for (const c of CANDIDATES) {
    const attempt = await c.load();
    rows.push({
      candidate: c.label,
      backend: c.backend,
      package: c.package,
      loads: attempt.ok,
      version: attempt.ok ? attempt.loaded.version : packageVersion(c.package),
      threads: attempt.ok ? attempt.loaded.threads : null,
      ...(attempt.ok && attempt.loaded.nativeThreads ? { nativeThreads: attempt.loaded.nativeThreads } : {}),
      gpu: attempt.ok ? attempt.loaded.gpu : c.gpu,
      why: attempt.why,
    });
  }
  if (before) await tf.setBackend(before);
  return rows;
}

// ---------- running out of the wasm heap ----------

/** Where a batch ran out of memory, for the message a user sees. */
export interface BatchContext {
  batchSize: number;
  accumulate: number;
  /** Image side in pixels. */
  size: number;
  /** Config key holding the batch size, e.g. `train.phases.1.batch_size`. */
  batchSizeKey?: string;
}

/**
 * wasm memory is one linear heap of at most 4 GB. When a batch does not fit, malloc fails inside
 * the module and it dies with "memory access out of bounds" or "Aborted(...)"; every later call
 * aborts too.
 */
export function isWasmOutOfMemory(e: unknown): boolean {
  const msg = firstLine(e);
  return (
    (e instanceof WebAssembly.RuntimeError && /memory access out of bounds|unreachable/i.test(msg)) ||
    /^Aborted\(|Cannot enlarge memory|Out of memory|WebAssembly\.Memory\.grow|Array buffer allocation failed/i.test(msg)
  );
}

/** The UserError for a batch that does not fit, with a batch size / accumulation that keeps the effective batch. */
export function batchMemoryError(ctx: BatchContext): UserError {
  const smaller = Math.max(1, Math.floor(ctx.batchSize / 2));
  const factor = Math.ceil(ctx.batchSize / smaller);
  const key = ctx.batchSizeKey ?? 'train.batch_size';
  return new UserError(
    `The wasm backend ran out of its 4 GB heap on a batch of ${ctx.batchSize} images at ${ctx.size} px (${key}: ${ctx.batchSize}, train.accumulate: ${ctx.accumulate}). ` +
      `Set ${key}: ${smaller} and train.accumulate: ${ctx.accumulate * factor} (same effective batch of ${smaller * ctx.accumulate * factor}), ` +
      `or train at a smaller size. The wasm heap cannot recover in this process, so start the run again.`,
  );
}

/** Runs one training/inference step and turns a wasm heap exhaustion into a batchMemoryError. */
export async function withBatchMemoryGuard<T>(ctx: BatchContext, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (tf.getBackend() === 'wasm' && isWasmOutOfMemory(e)) throw batchMemoryError(ctx);
    throw e;
  }
}
