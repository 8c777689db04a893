// gzx against PyTorch and Keras on the same machine, in one run, in alternating turns (so the
// machine's drift and other people's load hit all three alike): training and inference img/s of
// ResNet50 @112 px b8, ResNet18 @64 px b16 and simple-cnn @64 px b32, each with the galaxy-zoo head,
// MSE and Adam, on a random batch. gzx runs in this process (native TensorFlow when it loads);
// PyTorch and Keras each in their own Python process (bench/peers.py) in the peers venv
// (scripts/peers-venv.mjs), idle on stdin while another framework has its turn.
// Run: `npm run bench:peers` (or as part of `npm run bench`); `npx vite-node bench/peers.ts --peers-table`.
import 'reflect-metadata';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendReport } from '../src/runtime/backend.js';
import { COLUMN_QUESTION, NORMALISE_EPSILON, NUM_COLUMNS, QUESTIONS } from '../src/galaxy/tree.js';
import { MODELS, buildModel, trainer, type ModelSpec } from './train.js';
import { compiledPassesFor, predictWith } from '../src/runtime/traced-pass.js';
import { FREEZE_AFTER } from '../src/runtime/native/pass-graph.js';
// @ts-expect-error plain ESM script without types
import { ensurePeersVenv } from '../scripts/peers-venv.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const PEER_ROWS = [
  { id: 'r50_112', arch: 'resnet50', label: 'ResNet50 @112 px, batch 8' },
  { id: 'r18_64', arch: 'resnet18', label: 'ResNet18 @64 px, batch 16' },
  { id: 'cnn64', arch: 'simple-cnn', label: 'simple-cnn @64 px, batch 32' },
] as const;
/**
 * PyTorch runs twice: on every core (as gzx and Keras do) and on one thread. Its OpenMP threads wait
 * for each other at the end of every parallel loop, so on a busy machine (another process holding
 * one core) two threads can be far slower than one; gzx's ratio against PyTorch is taken against
 * the faster of the two in each turn (`torch_best`), so a loaded machine does not flatter gzx.
 */
export const PEERS = ['torch', 'torch1', 'keras'] as const;
type Peer = (typeof PEERS)[number];
type Who = 'gzx' | Peer;
/** Ratios reported: against each peer process, and against the faster PyTorch of the turn. */
const RATIOS = ['torch', 'torch1', 'torch_best', 'keras'] as const;
const PHASES = ['train', 'infer'] as const;

/** The decision tree as the matrices gzx's GalaxyNormalisation multiplies by (src/galaxy/layers/galaxy-normalisation.ts). */
function treeMatrices() {
  const n = NUM_COLUMNS;
  const sameQuestion = new Array<number>(n * n).fill(0);
  const parent = new Array<number>(n * n).fill(0);
  const root = new Array<number>(n).fill(0);
  const depthOf: number[] = [];
  for (const [qi, q] of QUESTIONS.entries()) {
    depthOf[qi] = q.parent === null ? 0 : depthOf[COLUMN_QUESTION[q.parent]] + 1;
    for (let i = q.start; i < q.start + q.answers.length; i++) {
      for (let j = q.start; j < q.start + q.answers.length; j++) sameQuestion[i * n + j] = 1;
      if (q.parent === null) root[i] = 1;
      else parent[q.parent * n + i] = 1;
    }
  }
  return { columns: n, sameQuestion, parent, root, depth: Math.max(...depthOf), epsilon: NORMALISE_EPSILON };
}

interface Turn {
  images: number;
  ms: number;
  cpu_ms: number;
}

/** One Python framework process speaking JSON lines (bench/peers.py). */
class PeerProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor(
    python: string,
    readonly framework: Peer,
    threads: number,
  ) {
    const lib = framework === 'keras' ? 'keras' : 'torch';
    this.child = spawn(python, [path.join(HERE, 'peers.py'), '--framework', lib, '--threads', String(threads)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', PYTHONUNBUFFERED: '1' },
    });
    // Python warnings (and TensorFlow's) go to our stderr, prefixed.
    readline.createInterface({ input: this.child.stderr }).on('line', (l) => process.stderr.write(`  [${framework}] ${l}\n`));
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async read(): Promise<Record<string, unknown>> {
    const next = await this.lines.next();
    if (next.done) throw new Error(`${this.framework} process ended (exit ${this.child.exitCode ?? '?'})`);
    const msg = JSON.parse(next.value) as Record<string, unknown>;
    if (!msg.ok) throw new Error(`${this.framework}: ${String(msg.error)}`);
    return msg;
  }
  async request(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(JSON.stringify(msg) + '\n');
    return this.read();
  }
  async quit(): Promise<void> {
    try {
      await this.request({ cmd: 'quit' });
    } catch {
      // already gone
    }
    this.child.kill();
  }
}

/** gzx's side of a row, in this process. */
export async function gzxSide(spec: ModelSpec) {
  const model = await buildModel(spec);
  const x = tf.randomUniform([spec.batch, spec.size, spec.size, 3], 0, 1, 'float32', 1);
  const y = tf.randomUniform([spec.batch, NUM_COLUMNS], 0, 1, 'float32', 2);
  const training = trainer(model, x, y, { adam: true });
  // As gzx's validation and `gzx predict` run it: one compiled graph per batch shape on tensorflow.
  const inference = compiledPassesFor(tf.getBackend(), (m) => process.stderr.write(`  ${m}\n`));
  const infer = () => {
    const out = tf.tidy(() => predictWith(inference, model, x));
    out.dataSync();
    out.dispose();
  };
  for (let i = 0; i < training.warmUpSteps; i++) training.stepSync();
  const steps = { train: training.stepSync, infer };
  // Whether predictions run on the graph with today's weights as constants: training changes them,
  // and the first inference turn after it would pay for the graph's rebuild (as `gzx predict` does
  // once per model, before its 17th batch).
  let inferenceWarm = false;
  const run = (phase: 'train' | 'infer', ms: number): Turn => {
    if (phase === 'train') inferenceWarm = false;
    else if (!inferenceWarm) {
      // Two recorded, the graph's first runs, then (weights unchanged) the frozen graph's build and first run.
      for (let i = 0; i < FREEZE_AFTER + 4; i++) infer();
      inferenceWarm = true;
    }
    const start = performance.now();
    const cpu = process.cpuUsage();
    let images = 0;
    do {
      steps[phase]();
      images += spec.batch;
    } while (performance.now() - start < ms);
    const used = process.cpuUsage(cpu);
    return { images, ms: performance.now() - start, cpu_ms: (used.user + used.system) / 1000 };
  };
  return {
    params: model.countParams(),
    run,
    tensors: () => tf.memory().numTensors,
    dispose: () => {
      tf.dispose([x, y]);
      training.dispose();
      inference?.dispose();
      model.dispose();
    },
  };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r2 = (v: number) => Math.round(v * 100) / 100;

export interface PeersBenchOptions {
  /** Turns per framework, phase and row. */
  turns?: number;
  trainTurnMs?: number;
  inferTurnMs?: number;
  rows?: string[];
  threads?: number;
  log?: (m: string) => void;
}

export interface PeersBenchResult {
  metrics: Record<string, number>;
  info: Record<string, unknown>;
}

export async function runPeersBench(o: PeersBenchOptions = {}): Promise<PeersBenchResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const turns = o.turns ?? 4;
  const turnMs = { train: o.trainTurnMs ?? 4000, infer: o.inferTurnMs ?? 2000 };
  const threads = o.threads ?? os.availableParallelism();
  const backend: BackendReport = await selectBackend('auto', log);
  const python = (await ensurePeersVenv({ log })) as string;
  const peers = PEERS.map((p) => new PeerProcess(python, p, p === 'torch1' ? 1 : threads));
  const info: Record<string, unknown> = {
    turns,
    turnMs,
    loadAverage1mAtStart: r2(os.loadavg()[0]),
    gzx: {
      backend: backend.name,
      package: `${backend.package} ${backend.version}`,
      threads: backend.threads,
      nativeThreads: backend.nativeThreads,
      optimizer: 'Adam (gzx Optimizer, fused native update), MSE',
    },
  };
  const metrics: Record<string, number> = {};
  try {
    for (const p of peers) {
      const hello = await p.read();
      info[p.framework] = hello;
      log(`${p.framework}: ${JSON.stringify(hello)}`);
    }
    const tree = treeMatrices();
    for (const row of PEER_ROWS) {
      if (o.rows && !o.rows.includes(row.id)) continue;
      const spec = MODELS.find((m) => m.id === row.id)!;
      log(`== ${row.label}: setting up gzx, torch, keras (warm-up steps) ==`);
      const gzx = await gzxSide(spec);
      const params: Record<string, number> = { gzx: gzx.params };
      for (const p of peers) {
        const r = await p.request({ cmd: 'setup', model: row.id, arch: row.arch, size: spec.size, batch: spec.batch, tree });
        params[p.framework] = r.params as number;
      }
      log(
        `  parameters: ${Object.entries(params)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
      const tensorsBefore = gzx.tensors();
      for (const phase of PHASES) {
        const ips: Record<Who, number[]> = { gzx: [], torch: [], torch1: [], keras: [] };
        // CPU time per wall second of each turn: how many cores the framework kept busy (2 = both).
        const cores: Record<Who, number[]> = { gzx: [], torch: [], torch1: [], keras: [] };
        const order: Who[] = ['gzx', 'torch', 'torch1', 'keras'];
        for (let t = 0; t < turns; t++) {
          // Rotate who goes first, so no framework always follows the same one.
          const turnOrder = [...order.slice(t % order.length), ...order.slice(0, t % order.length)];
          for (const who of turnOrder) {
            const turn =
              who === 'gzx'
                ? gzx.run(phase, turnMs[phase])
                : ((await peers.find((p) => p.framework === who)!.request({ cmd: phase, ms: turnMs[phase] })) as unknown as Turn);
            ips[who].push(turn.images / (turn.ms / 1000));
            cores[who].push(turn.cpu_ms / turn.ms);
          }
          log(`  ${phase} turn ${t + 1}/${turns}: ${order.map((w) => `${w} ${r2(ips[w][t])} img/s (${r2(cores[w][t])} cores)`).join(', ')}`);
        }
        const k = `peers.${row.id}.${phase}`;
        for (const who of order) {
          metrics[`${k}.${who}_ips`] = r2(median(ips[who]));
          metrics[`${k}.${who}_cores_busy`] = r2(median(cores[who]));
        }
        const peerIps = (peer: (typeof RATIOS)[number], t: number) => (peer === 'torch_best' ? Math.max(ips.torch[t], ips.torch1[t]) : ips[peer][t]);
        for (const peer of RATIOS) {
          // Ratio per turn (gzx's turn against the peer's turn of the same round), then median and spread.
          const ratios = ips.gzx.map((g, t) => g / peerIps(peer, t));
          metrics[`${k}.over_${peer}`] = r2(median(ratios));
          metrics[`${k}.over_${peer}_min`] = r2(Math.min(...ratios));
          metrics[`${k}.over_${peer}_max`] = r2(Math.max(...ratios));
        }
        // Per CPU-second (images per second of CPU time each process used): on a machine where other
        // jobs hold the cores, a framework that keeps more threads runnable gets a larger share of
        // them; this ratio takes the share out and compares the work per core-second.
        for (const peer of ['torch1', 'keras'] as const) {
          const ratios = ips.gzx.map((g, t) => g / cores.gzx[t] / (ips[peer][t] / cores[peer][t]));
          metrics[`${k}.over_${peer}_per_cpu`] = r2(median(ratios));
          metrics[`${k}.over_${peer}_per_cpu_min`] = r2(Math.min(...ratios));
          metrics[`${k}.over_${peer}_per_cpu_max`] = r2(Math.max(...ratios));
        }
        log(
          `  ${phase}: gzx ÷ torch (faster of 2 and 1 threads) ${metrics[`${k}.over_torch_best`]}× (${metrics[`${k}.over_torch_best_min`]}–${metrics[`${k}.over_torch_best_max`]}), ` +
            `gzx ÷ keras ${metrics[`${k}.over_keras`]}× (${metrics[`${k}.over_keras_min`]}–${metrics[`${k}.over_keras_max`]})`,
        );
      }
      metrics[`peers.${row.id}.gzx_tensors_growth`] = gzx.tensors() - tensorsBefore;
      for (const [who, n] of Object.entries(params)) metrics[`peers.${row.id}.${who}_params`] = n;
      gzx.dispose();
    }
    for (const p of peers) {
      const r = await p.request({ cmd: 'rss' });
      metrics[`peers.${p.framework}.peak_rss_mib`] = Math.round(r.max_rss_mib as number);
    }
    metrics['peers.gzx.peak_rss_mib'] = Math.round(process.resourceUsage().maxRSS / 1024);
  } finally {
    await Promise.all(peers.map((p) => p.quit()));
  }
  return { metrics, info };
}

/** The markdown table of a peers run: img/s of each framework and gzx's ratios with their spread. */
export function formatPeersTable(metrics: Record<string, number>): string {
  const lines = [
    '| model | phase | gzx img/s | PyTorch img/s (all cores / 1 thread) | Keras img/s | gzx ÷ PyTorch (min–max) | gzx ÷ Keras (min–max) | cores busy gzx / PyTorch 1 thread / Keras | per CPU-second: gzx ÷ PyTorch 1 thread, gzx ÷ Keras |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of PEER_ROWS) {
    for (const phase of PHASES) {
      const k = `peers.${row.id}.${phase}`;
      if (!(`${k}.gzx_ips` in metrics)) continue;
      const perCpu = (p: 'torch1' | 'keras') =>
        `${metrics[`${k}.over_${p}_per_cpu`]}× (${metrics[`${k}.over_${p}_per_cpu_min`]}–${metrics[`${k}.over_${p}_per_cpu_max`]})`;
      const ratio = (p: (typeof RATIOS)[number]) =>
        `${metrics[`${k}.over_${p}`]}× (${metrics[`${k}.over_${p}_min`]}–${metrics[`${k}.over_${p}_max`]})`;
      lines.push(
        `| ${row.label} | ${phase === 'train' ? 'training' : 'inference'} | ${metrics[`${k}.gzx_ips`]} | ${metrics[`${k}.torch_ips`]} / ${metrics[`${k}.torch1_ips`]} | ${metrics[`${k}.keras_ips`]} | ${ratio('torch_best')} | ${ratio('keras')} | ` +
          `${metrics[`${k}.gzx_cores_busy`]} / ${metrics[`${k}.torch1_cores_busy`]} / ${metrics[`${k}.keras_cores_busy`]} | ${perCpu('torch1')}, ${perCpu('keras')} |`,
      );
    }
  }
  return lines.join('\n');
}

function listArg(name: string): string[] | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1].split(',') : undefined;
}

if (process.argv.includes('--peers-table')) {
  runPeersBench({
    rows: listArg('--rows'),
    turns: listArg('--turns') ? Number(listArg('--turns')![0]) : undefined,
    trainTurnMs: listArg('--train-ms') ? Number(listArg('--train-ms')![0]) : undefined,
    inferTurnMs: listArg('--infer-ms') ? Number(listArg('--infer-ms')![0]) : undefined,
  }).then(
    (r) => console.log(JSON.stringify(r.info, null, 2) + '\n' + formatPeersTable(r.metrics)),
    (e) => {
      console.error(e?.name === 'VenvError' ? e.message : e);
      process.exitCode = 1;
    },
  );
}
