// Training and inference throughput of real gzx models (backbone plugin + galaxy-zoo head) on each
// backend that loads, with memory checks. Images are random tensors: this measures the model step
// only (bench/pipeline.ts measures decoding).
// Run: npm run bench (both benches), or `npx vite-node bench/train.ts --train-table`.
import 'reflect-metadata';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { container } from 'tsyringe';
import type { Backbone, Head } from '../src/framework/contracts.js';
import type { PluginContext } from '../src/framework/plugin.js';
import { describeBackends, selectBackend, type BackendName } from '../src/runtime/backend.js';
import { registerWasmKernels } from '../src/runtime/wasm/index.js';
import { simpleCnnBackbone } from '../src/plugins/backbone/simple-cnn.js';
import { resnetBackbone } from '../src/plugins/backbone/resnet.js';
import { galaxyZooHead } from '../src/plugins/head/galaxy-zoo.js';
import { registerNativeKernels } from '../src/runtime/native/index.js';
import { Optimizer } from '../src/framework/optimizers.js';
import { Conv2D } from '../src/vision/layers/conv2d.js';
import { compiledPassesFor } from '../src/runtime/traced-pass.js';

export interface ModelSpec {
  id: string;
  label: string;
  size: number;
  batch: number;
  backbone: () => Backbone | Promise<Backbone>;
  /** Train as a frozen phase does: the backbone's BatchNorms and the head only. */
  frozen?: boolean;
}

const ctx: PluginContext = {
  tf,
  seed: 1,
  runDir: os.tmpdir(),
  configDir: process.cwd(),
  log: () => {},
  container: container.createChildContainer(),
};

export const MODELS: ModelSpec[] = [
  {
    id: 'cnn64',
    label: 'simple-cnn @64px b32',
    size: 64,
    batch: 32,
    backbone: () => simpleCnnBackbone.create({ channels: [16, 32, 64, 128], convs_per_block: 1 }, ctx),
  },
  {
    id: 'r18_64',
    label: 'resnet18 @64px b16',
    size: 64,
    batch: 16,
    backbone: () => resnetBackbone.create({ depth: 18, pretrained: null, normalize: 'auto', width: 1 }, ctx),
  },
  {
    id: 'r50_64',
    label: 'resnet50 @64px b8',
    size: 64,
    batch: 8,
    backbone: () => resnetBackbone.create({ depth: 50, pretrained: null, normalize: 'auto', width: 1 }, ctx),
  },
  {
    id: 'r50_112',
    label: 'resnet50 @112px b8',
    size: 112,
    batch: 8,
    backbone: () => resnetBackbone.create({ depth: 50, pretrained: null, normalize: 'auto', width: 1 }, ctx),
  },
  {
    id: 'r50_112_frozen',
    label: 'resnet50 @112px b8, frozen',
    size: 112,
    batch: 8,
    frozen: true,
    backbone: () => resnetBackbone.create({ depth: 50, pretrained: null, normalize: 'auto', width: 1 }, ctx),
  },
];

/** A backend run: `wasm-stock` is wasm with only the gradient fixes (the issue's "before"). */
export interface BackendRun {
  id: string;
  backend: BackendName;
  speedups: boolean;
  /** Models to skip: on cpu a ResNet training step takes minutes. */
  skip: string[];
  /** Smaller batch for slow backends (images/s is per image, so comparable). */
  batch?: number;
}

export async function buildModel(spec: ModelSpec): Promise<tf.LayersModel> {
  const backbone = await spec.backbone();
  const built = backbone.build(tf);
  const head = (await galaxyZooHead.create({ ps: 0.25, hidden: 512, pool: 'concat', normalise: true }, ctx)) as Head;
  const model = tf.model({ inputs: built.inputs, outputs: head.build(tf, built.features) });
  if (spec.frozen) {
    // As the Learner freezes (fastai): the backbone's BatchNorms keep training.
    const backbone = new Set(built.layerGroups.flat());
    for (const layer of model.layers) {
      if (backbone.has(layer.name) && layer.getClassName() !== 'BatchNormalization') layer.trainable = false;
    }
  }
  return model;
}

/**
 * A training step as the Learner takes it: gradients of the MSE for every trainable weight, then
 * gzx's AdamW (as configs/resnet50-progressive.yaml). `step` returns the loss (to be read and
 * disposed), `stepSync` reads and disposes it; `dispose` frees the optimiser state and graphs.
 * `compile: false` keeps every step op by op (for measurements that swap kernels or layers mid-run).
 */
export function trainer(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, { compile = true, adam = false } = {}) {
  // `adam`: plain Adam (no weight decay, PyTorch's defaults), as bench/peers.ts gives every framework.
  const optimizer = new Optimizer(
    adam
      ? { name: 'adam', wd: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9, nesterov: false }
      : { name: 'adamw', wd: 1e-4, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: false },
  );
  const variables = new Map(model.trainableWeights.map((w) => [w.name, w.read() as tf.Variable]));
  const eager = () => tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
  // As the Learner does (train.compile): on tensorflow the pass becomes a graph at its third run.
  const passes = compile ? compiledPassesFor(tf.getBackend(), (m) => process.stderr.write(`  ${m}\n`)) : null;
  const pass = () => (passes ? passes.run('step', [x, y], eager) : eager());
  const step = (): tf.Scalar =>
    tf.tidy(() => {
      const { value, grads } = pass();
      optimizer.apply(grads, variables, () => 1e-3);
      return value;
    });
  /** One step, waiting for its loss (what a training loop does before the next batch). */
  const stepSync = () => {
    const loss = step();
    loss.dataSync();
    loss.dispose();
  };
  /**
   * Steps before the pass runs as it will from then on: two recorded, then the graph's first run,
   * in which TensorFlow optimises it.
   */
  const warmUpSteps = passes ? 3 : 1;
  return {
    step,
    stepSync,
    warmUpSteps,
    dispose: () => {
      optimizer.dispose();
      passes?.dispose();
    },
  };
}

function randomBatch(spec: ModelSpec): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return {
    x: tf.randomUniform([spec.batch, spec.size, spec.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    y: tf.randomUniform([spec.batch, 37], 0, 1, 'float32', 2) as tf.Tensor2D,
  };
}

const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);

/**
 * Runs `step` until `budgetMs` has passed (at least once, at most maxSteps). Returns wall and CPU
 * ms per step: on a shared machine the wall clock includes waiting for a core, CPU time does not
 * (for single-threaded backends it is what an idle core would take).
 */
export async function timeSteps(
  step: () => Promise<void>,
  budgetMs: number,
  maxSteps: number,
): Promise<{ msPerStep: number; cpuMsPerStep: number; steps: number }> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let steps = 0;
  while (steps < maxSteps && (steps === 0 || performance.now() - start < budgetMs)) {
    await step();
    steps++;
  }
  const cpu = process.cpuUsage(cpuStart);
  return { msPerStep: (performance.now() - start) / steps, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps, steps };
}

export interface TrainRow {
  run: string;
  model: string;
  trainIps: number;
  /** Images per CPU-second (all threads of the process). */
  trainCpuIps: number;
  trainSteps: number;
  inferIps: number;
  inferCpuIps: number;
  /** numTensors after the first step and after the last one: equal when nothing leaks. */
  tensorsAfterFirst: number;
  tensorsAfterLast: number;
  peakRssMiB: number;
}

export async function benchModel(spec: ModelSpec, run: string, budgetMs: number, maxSteps: number): Promise<TrainRow> {
  const model = await buildModel(spec);
  const { x, y } = randomBatch(spec);
  const training = trainer(model, x, y);
  const trainStep = async () => {
    const loss = training.step();
    await loss.data();
    loss.dispose();
  };
  // Warm-up: first-call allocations, XNNPACK operator creation, and on tensorflow the two recorded passes.
  for (let i = 0; i < training.warmUpSteps; i++) await trainStep();
  const tensorsAfterFirst = tf.memory().numTensors;
  const train = await timeSteps(trainStep, budgetMs, maxSteps);
  const tensorsAfterLast = tf.memory().numTensors;
  const inferStep = async () => {
    const out = model.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
  };
  await inferStep();
  const infer = await timeSteps(inferStep, budgetMs / 2, maxSteps);
  tf.dispose([x, y]);
  training.dispose();
  model.dispose();
  return {
    run,
    model: spec.id,
    trainIps: round(spec.batch / (train.msPerStep / 1000)),
    trainCpuIps: round(spec.batch / (train.cpuMsPerStep / 1000)),
    trainSteps: train.steps,
    inferIps: round(spec.batch / (infer.msPerStep / 1000)),
    inferCpuIps: round(spec.batch / (infer.cpuMsPerStep / 1000)),
    tensorsAfterFirst,
    tensorsAfterLast,
    peakRssMiB: peakRssMiB(),
  };
}

/** Many short "epochs" of the small CNN: tensors and RSS after the last must not exceed those after the first. */
export async function leakCheck(epochs: number, stepsPerEpoch: number) {
  const spec = MODELS[0];
  const model = await buildModel(spec);
  const { x, y } = randomBatch(spec);
  const training = trainer(model, x, y);
  const perEpoch: { tensors: number; rssMiB: number }[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      const loss = training.step();
      await loss.data();
      loss.dispose();
    }
    perEpoch.push({ tensors: tf.memory().numTensors, rssMiB: rssMiB() });
  }
  tf.dispose([x, y]);
  training.dispose();
  model.dispose();
  return { first: perEpoch[0], last: perEpoch[perEpoch.length - 1], epochs, stepsPerEpoch };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

function median(v: number[]): number {
  return [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
}

export interface TrainBenchOptions {
  /** Time budget per measurement (ms). */
  budgetMs?: number;
  maxSteps?: number;
  log?: (m: string) => void;
  /** Only these model ids. */
  models?: string[];
  /** Only these run ids (cpu, wasm-stock, wasm, tensorflow). */
  runs?: string[];
}

export async function runTrainBenchRows(o: TrainBenchOptions = {}) {
  const budgetMs = o.budgetMs ?? Number(process.env.GZX_BENCH_TRAIN_BUDGET_MS ?? 10000);
  const maxSteps = o.maxSteps ?? 40;
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const available = new Set((await describeBackends()).filter((b) => b.loads).map((b) => b.backend));
  const runs: BackendRun[] = [
    { id: 'tensorflow', backend: 'tensorflow', speedups: true, skip: [] },
    { id: 'tensorflow-stock', backend: 'tensorflow', speedups: false, skip: ['cnn64', 'r18_64', 'r50_64', 'r50_112_frozen'] },
    { id: 'wasm-stock', backend: 'wasm', speedups: false, skip: ['r50_112_frozen'] },
    { id: 'wasm', backend: 'wasm', speedups: true, skip: [] },
    { id: 'cpu', backend: 'cpu', speedups: true, skip: ['r18_64', 'r50_64', 'r50_112', 'r50_112_frozen'], batch: 4 },
  ].filter((r) => available.has(r.backend as BackendName) && (!o.runs || o.runs.includes(r.id))) as BackendRun[];
  const rows: TrainRow[] = [];
  for (const run of runs) {
    await selectBackend(run.backend, () => {});
    if (run.backend === 'wasm') registerWasmKernels({ speedups: run.speedups });
    if (run.backend === 'tensorflow') registerNativeKernels({ speedups: run.speedups });
    for (const spec of MODELS) {
      if (run.skip.includes(spec.id) || (o.models && !o.models.includes(spec.id))) continue;
      // cpu gets one step of a small batch: its conv gradients are ~150x slower than wasm's.
      const sized = run.batch ? { ...spec, batch: run.batch } : spec;
      const row = await benchModel(sized, run.id, budgetMs, run.backend === 'cpu' ? 1 : maxSteps);
      log(
        `${run.id.padEnd(10)} ${spec.label.padEnd(22)} train ${row.trainIps} img/s [${row.trainCpuIps}/cpu-s] (${row.trainSteps} steps), infer ${row.inferIps} img/s [${row.inferCpuIps}/cpu-s], tensors ${row.tensorsAfterFirst}→${row.tensorsAfterLast}, peak RSS ${row.peakRssMiB} MiB`,
      );
      rows.push(row);
    }
  }
  // Per backend: on tensorflow the steps run through the compiled pass (a TensorFlow session whose
  // outputs come back as new tensors each step), the path most likely to leak natively.
  const leaks: { backend: string; result: Awaited<ReturnType<typeof leakCheck>> }[] = [];
  for (const backend of ['wasm', 'tensorflow'] as const) {
    if (!available.has(backend) || (o.runs && !o.runs.includes(backend))) continue;
    await selectBackend(backend, () => {});
    if (backend === 'wasm') registerWasmKernels({ speedups: true });
    else registerNativeKernels({ speedups: true });
    const result = await leakCheck(6, backend === 'wasm' ? 10 : 30);
    leaks.push({ backend, result });
    log(
      `leak check (${backend}, simple-cnn, ${result.epochs} epochs × ${result.stepsPerEpoch} steps): tensors ${result.first.tensors}→${result.last.tensors}, RSS ${result.first.rssMiB}→${result.last.rssMiB} MiB`,
    );
  }
  return { rows, leaks, available };
}

/** The model on a random batch, ready to train on `backend` with gzx's kernels. */
async function trainerOn(backend: 'tensorflow' | 'wasm', spec: ModelSpec, compile = true) {
  await selectBackend(backend, () => {});
  if (backend === 'wasm') registerWasmKernels({ speedups: true });
  else registerNativeKernels({ speedups: true });
  const model = await buildModel(spec);
  const { x, y } = randomBatch(spec);
  return { model, x, y, training: trainer(model, x, y, { compile }) };
}

/**
 * Native ÷ wasm training speed of one model, measured in alternating turns of about `turnMs` each
 * (at least one step) in one process: the machine's speed drifts by tens of percent over minutes
 * here, and alternating makes the drift hit both backends alike. Returns img/s of each and the ratio.
 */
export async function nativeOverWasm(spec: ModelSpec, turns: number, turnMs: number) {
  const sides = [];
  for (const backend of ['tensorflow', 'wasm'] as const) {
    const { model, x, y, training } = await trainerOn(backend, spec);
    for (let i = 0; i < training.warmUpSteps; i++) training.stepSync();
    sides.push({ backend, model, x, y, training, step: training.stepSync, ms: 0, images: 0 });
  }
  for (let t = 0; t < turns; t++) {
    for (const side of sides) {
      await tf.setBackend(side.backend);
      const start = performance.now();
      do {
        side.step();
        side.images += spec.batch;
      } while (performance.now() - start < turnMs);
      side.ms += performance.now() - start;
    }
  }
  const ips = sides.map((side) => side.images / (side.ms / 1000));
  for (const side of sides) {
    await tf.setBackend(side.backend);
    tf.dispose([side.x, side.y]);
    side.training.dispose();
    side.model.dispose();
  }
  return { nativeIps: round(ips[0]), wasmIps: round(ips[1]), ratio: round(ips[0] / ips[1]) };
}

/** Flat metrics for bench/results.json (same shape as bench/pipeline.ts). */
export async function runTrainBench(o: TrainBenchOptions = {}): Promise<Record<string, number>> {
  const { rows, leaks, available } = await runTrainBenchRows(o);
  const out: Record<string, number> = {};
  if (available.has('tensorflow') && available.has('wasm') && (!o.runs || (o.runs.includes('tensorflow') && o.runs.includes('wasm')))) {
    const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
    const quick = (o.maxSteps ?? 40) < 5;
    for (const spec of MODELS) {
      if (o.models && !o.models.includes(spec.id)) continue;
      const r = await nativeOverWasm(spec, quick ? 1 : 4, quick ? 0 : 1500);
      log(`alternating turns, ${spec.label}: tensorflow ${r.nativeIps} img/s, wasm ${r.wasmIps} img/s, ratio ${r.ratio}×`);
      out[`train.ratio.${spec.id}.native_ips`] = r.nativeIps;
      out[`train.ratio.${spec.id}.wasm_ips`] = r.wasmIps;
      out[`train.ratio.${spec.id}.native_over_wasm`] = r.ratio;
    }
  }
  for (const r of rows) {
    const k = `train.${r.run}.${r.model}`;
    out[`${k}.train_ips`] = r.trainIps;
    out[`${k}.train_cpu_ips`] = r.trainCpuIps;
    out[`${k}.infer_ips`] = r.inferIps;
    out[`${k}.infer_cpu_ips`] = r.inferCpuIps;
    out[`${k}.tensors_growth`] = r.tensorsAfterLast - r.tensorsAfterFirst;
    out[`${k}.peak_rss_mib`] = r.peakRssMiB;
  }
  for (const { backend, result } of leaks) {
    out[`train.leak.${backend}.tensors_first_epoch`] = result.first.tensors;
    out[`train.leak.${backend}.tensors_last_epoch`] = result.last.tensors;
    out[`train.leak.${backend}.rss_mib_first_epoch`] = result.first.rssMiB;
    out[`train.leak.${backend}.rss_mib_last_epoch`] = result.last.rssMiB;
  }
  return out;
}

/** Markdown table: one row per model, one train/infer column pair per backend run. */
export function formatTrainTable(metrics: Record<string, number>): string {
  const runs = ['tensorflow', 'tensorflow-stock', 'wasm-stock', 'wasm', 'cpu'].filter((r) =>
    Object.keys(metrics).some((k) => k.startsWith(`train.${r}.`)),
  );
  const lines = [`| model | ${runs.map((r) => `${r} train img/s | ${r} infer img/s`).join(' | ')} |`, `|---|${runs.map(() => '---|---|').join('')}`];
  for (const m of MODELS) {
    const cell = (r: string, what: string) => {
      const wall = metrics[`train.${r}.${m.id}.${what}_ips`];
      const cpu = metrics[`train.${r}.${m.id}.${what}_cpu_ips`];
      return wall === undefined ? '–' : `${wall} (${cpu})`;
    };
    lines.push(`| ${m.label} | ${runs.map((r) => `${cell(r, 'train')} | ${cell(r, 'infer')}`).join(' | ')} |`);
  }
  for (const backend of ['wasm', 'tensorflow']) {
    const k = `train.leak.${backend}`;
    if (!(`${k}.tensors_first_epoch` in metrics)) continue;
    lines.push(
      '',
      `leak check (${backend}): tensors ${metrics[`${k}.tensors_first_epoch`]} → ${metrics[`${k}.tensors_last_epoch`]}, ` +
        `RSS ${metrics[`${k}.rss_mib_first_epoch`]} → ${metrics[`${k}.rss_mib_last_epoch`]} MiB (after epoch 1 → after the last)`,
    );
  }
  const ratios = MODELS.filter((m) => `train.ratio.${m.id}.native_over_wasm` in metrics);
  if (ratios.length) {
    lines.push('', '| model (alternating turns) | tensorflow train img/s | wasm train img/s | tensorflow ÷ wasm |', '|---|---|---|---|');
    for (const m of ratios) {
      const k = `train.ratio.${m.id}`;
      lines.push(`| ${m.label} | ${metrics[`${k}.native_ips`]} | ${metrics[`${k}.wasm_ips`]} | ${metrics[`${k}.native_over_wasm`]}× |`);
    }
  }
  const peaks = Object.entries(metrics).filter(([k]) => k.endsWith('.peak_rss_mib'));
  if (peaks.length) lines.push(`peak RSS of the process: ${Math.max(...peaks.map(([, v]) => v))} MiB`);
  return lines.join('\n');
}

/**
 * Stock vs gzx wasm kernels on one model, alternating steps in one process (so load from other
 * processes hits both alike); median CPU ms per training step of each.
 */
export async function compareWasmKernels(spec: ModelSpec, rounds: number) {
  await selectBackend('wasm', () => {});
  const model = await buildModel(spec);
  const { x, y } = randomBatch(spec);
  const training = trainer(model, x, y);
  const step = training.stepSync;
  const cpuMs: Record<'stock' | 'gzx', number[]> = { stock: [], gzx: [] };
  for (let r = -1; r < rounds; r++) {
    for (const mode of ['stock', 'gzx'] as const) {
      registerWasmKernels({ speedups: mode === 'gzx' });
      const start = process.cpuUsage();
      step();
      const used = process.cpuUsage(start);
      if (r >= 0) cpuMs[mode].push((used.user + used.system) / 1000); // round -1 warms both up
    }
  }
  registerWasmKernels({ speedups: true });
  tf.dispose([x, y]);
  training.dispose();
  model.dispose();
  const stock = median(cpuMs.stock);
  const gzx = median(cpuMs.gzx);
  return {
    model: spec.id,
    stockCpuMs: Math.round(stock),
    gzxCpuMs: Math.round(gzx),
    speedup: round(stock / gzx),
    stockIps: round(spec.batch / (stock / 1000)),
    gzxIps: round(spec.batch / (gzx / 1000)),
  };
}

/**
 * tfjs-layers' Conv2D vs gzx's on one model and backend, alternating steps in one process; median
 * wall ms per training step of each. Swapping the layer method on the prototype is a measuring
 * trick only: both halves then train the very same model and weights.
 */
export async function compareConvLayer(spec: ModelSpec, backend: 'tensorflow' | 'wasm', rounds: number) {
  const { model, x, y, training } = await trainerOn(backend, spec, false); // a graph would ignore the swap
  const calls = { gzx: Conv2D.prototype.call, stock: Object.getPrototypeOf(Conv2D.prototype).call as typeof Conv2D.prototype.call };
  const ms: Record<'stock' | 'gzx', number[]> = { stock: [], gzx: [] };
  try {
    for (let r = -1; r < rounds; r++) {
      for (const mode of ['stock', 'gzx'] as const) {
        Conv2D.prototype.call = calls[mode];
        const start = performance.now();
        training.stepSync();
        if (r >= 0) ms[mode].push(performance.now() - start); // round -1 warms both up
      }
    }
  } finally {
    Conv2D.prototype.call = calls.gzx;
    tf.dispose([x, y]);
    training.dispose();
    model.dispose();
  }
  return {
    model: spec.id,
    backend,
    stockMs: round(median(ms.stock)),
    gzxMs: round(median(ms.gzx)),
    speedup: round(median(ms.stock) / median(ms.gzx)),
  };
}

/** `--name a,b` on the command line as ['a', 'b'], or undefined. */
function listArg(name: string): string[] | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1].split(',') : undefined;
}

// vite-node hides the script path from argv, so the table is asked for with a flag.
if (process.argv.includes('--compare-conv')) {
  (async () => {
    const models = listArg('--models') ?? ['cnn64', 'r50_112_frozen'];
    const rounds = Number(listArg('--rounds')?.[0] ?? 5);
    for (const backend of (listArg('--runs') ?? ['tensorflow', 'wasm']) as ('tensorflow' | 'wasm')[]) {
      for (const spec of MODELS.filter((m) => models.includes(m.id))) {
        console.log(JSON.stringify(await compareConvLayer(spec, backend, rounds)));
      }
    }
  })().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}

if (process.argv.includes('--compare-kernels')) {
  const ids = listArg('--models') ?? ['r18_64', 'r50_64'];
  (async () => {
    for (const spec of MODELS.filter((m) => ids.includes(m.id))) console.log(JSON.stringify(await compareWasmKernels(spec, 3)));
  })().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}

if (process.argv.includes('--train-table')) {
  runTrainBench({ models: listArg('--models'), runs: listArg('--runs') }).then(
    (m) => console.log(formatTrainTable(m)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
