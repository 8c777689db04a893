// `npm run bench`: runs every benchmark in its own child process (so peak RSS and the tfjs backend
// of one do not leak into the other), writes bench/results.json and prints the tables.
// Options: --only train|pipeline|e2e|tta|peers (comma-separated), --quick (shorter training measurements),
// --turns N (peers: turns per framework, phase and row; 4 by default).
// `peers` (gzx against PyTorch and Keras, bench/peers.ts) builds a Python venv the first time.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const BENCHES = ['pipeline', 'train', 'e2e', 'tta', 'peers'] as const;
type BenchName = (typeof BENCHES)[number];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Child mode: run one bench in this process and write its flat metrics to --out. */
async function runChild(name: BenchName, out: string, turns: number | undefined): Promise<void> {
  let metrics: Record<string, number>;
  let info: Record<string, unknown> | undefined;
  if (name === 'peers') {
    const { runPeersBench } = await import('./peers.js');
    const quick = process.argv.includes('--quick');
    ({ metrics, info } = await runPeersBench(quick ? { turns: turns ?? 2, trainTurnMs: 1500, inferTurnMs: 1000 } : { turns }));
  } else if (name === 'train') {
    const { runTrainBench } = await import('./train.js');
    metrics = await runTrainBench(process.argv.includes('--quick') ? { budgetMs: 1000, maxSteps: 2 } : {});
  } else if (name === 'tta') {
    const { runTtaBench } = await import('./tta.js');
    metrics = await runTtaBench();
  } else if (name === 'e2e') {
    const { runEndToEndBench } = await import('./end-to-end.js');
    metrics = await runEndToEndBench();
  } else {
    const { runPipelineBench } = await import('./pipeline.js');
    metrics = await runPipelineBench();
  }
  fs.writeFileSync(out, JSON.stringify({ metrics, info }));
}

function runInChild(name: BenchName): { metrics: Record<string, number> | null; info?: Record<string, unknown>; seconds: number; error?: string } {
  const viteNode = path.join(path.dirname(createRequire(import.meta.url).resolve('vite-node/package.json')), 'vite-node.mjs');
  const out = path.join(os.tmpdir(), `gzx-bench-${name}-${process.pid}.json`);
  const start = performance.now();
  const extra = [...(process.argv.includes('--quick') ? ['--quick'] : []), ...(arg('--turns') ? ['--turns', arg('--turns')!] : [])];
  const child = spawnSync(process.execPath, [viteNode, path.join(HERE, 'run.ts'), '--child', name, '--out', out, ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const seconds = Math.round((performance.now() - start) / 100) / 10;
  if (child.status !== 0 || !fs.existsSync(out)) {
    return { metrics: null, seconds, error: `exited with ${child.status ?? child.signal}` };
  }
  const { metrics, info } = JSON.parse(fs.readFileSync(out, 'utf8')) as { metrics: Record<string, number>; info?: Record<string, unknown> };
  fs.rmSync(out, { force: true });
  return { metrics, info, seconds };
}

/** --turns N, checked; undefined when not given. */
function turnsArg(): number | undefined {
  if (!process.argv.includes('--turns')) return undefined;
  const given = arg('--turns') ?? '';
  const turns = Number(given);
  if (!(Number.isInteger(turns) && turns >= 1)) {
    console.error(`bench: --turns takes a whole number of turns (1 or more), not "${given}"`);
    process.exit(2);
  }
  return turns;
}

async function main(): Promise<void> {
  const turns = turnsArg(); // a bad value stops here, before any bench runs or results.json is written
  const child = arg('--child');
  if (child) {
    await runChild(child as BenchName, arg('--out')!, turns);
    return;
  }
  const only = arg('--only');
  const selected = BENCHES.filter((b) => !only || only.split(',').includes(b));
  const results: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      // Other work on the machine slows every number here; keep this with them.
      loadAverage1mAtStart: Math.round(os.loadavg()[0] * 100) / 100,
    },
    seconds: {} as Record<string, number>,
    errors: {} as Record<string, string>,
    /** What a bench says about how it measured (peers: versions and thread settings of each framework). */
    info: {} as Record<string, unknown>,
    metrics: {} as Record<string, number>,
  };
  for (const name of selected) {
    process.stderr.write(`\n== bench ${name} ==\n`);
    const r = runInChild(name);
    (results.seconds as Record<string, number>)[name] = r.seconds;
    if (r.metrics) Object.assign(results.metrics as Record<string, number>, r.metrics);
    if (r.info) (results.info as Record<string, unknown>)[name] = r.info;
    else (results.errors as Record<string, string>)[name] = r.error!;
  }
  const file = path.join(HERE, 'results.json');
  // Keep earlier results of benches not run this time.
  if (only && fs.existsSync(file)) {
    const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as { metrics?: Record<string, number>; info?: Record<string, unknown> };
    results.metrics = { ...(previous.metrics ?? {}), ...(results.metrics as Record<string, number>) };
    results.info = { ...(previous.info ?? {}), ...(results.info as Record<string, unknown>) };
  }
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');

  const metrics = results.metrics as Record<string, number>;
  const { formatTrainTable } = await import('./train.js');
  const lines: string[] = [''];
  if (Object.keys(metrics).some((k) => k.startsWith('train.')))
    lines.push('## training (img/s; wall clock, and per CPU-second in brackets)', formatTrainTable(metrics), '');
  const pipelineKeys = Object.keys(metrics).filter((k) => k.startsWith('pipeline.'));
  if (pipelineKeys.length) {
    lines.push('## pipeline', '| metric | value |', '|---|---|', ...pipelineKeys.map((k) => `| ${k} | ${metrics[k]} |`), '');
  }
  if (Object.keys(metrics).some((k) => k.startsWith('e2e.'))) {
    const { formatEndToEndTable } = await import('./end-to-end.js');
    lines.push('## training from JPEGs through `gzx run` (img/s, and % of training time waiting for images)', formatEndToEndTable(metrics), '');
  }
  if (Object.keys(metrics).some((k) => k.startsWith('tta.'))) {
    const { formatTtaTable } = await import('./tta.js');
    lines.push('## test-time augmentation through `gzx predict` (images/s)', formatTtaTable(metrics), '');
  }
  if (Object.keys(metrics).some((k) => k.startsWith('peers.'))) {
    const { formatPeersTable } = await import('./peers.js');
    lines.push(
      '## gzx against PyTorch and Keras, alternating turns in one run (median img/s; ratio per turn: median and min–max)',
      formatPeersTable(metrics),
      '',
    );
  }
  lines.push(
    `wrote ${path.relative(ROOT, file)} (${Object.entries(results.seconds as Record<string, number>)
      .map(([k, v]) => `${k} ${v}s`)
      .join(', ')})`,
  );
  const errors = Object.entries(results.errors as Record<string, string>);
  for (const [name, e] of errors) lines.push(`bench ${name} failed: ${e}`);
  console.log(lines.join('\n'));
  if (errors.length) process.exitCode = 1;
}

main().catch((e) => {
  // A venv install failure (scripts/python-venv.mjs) is one line that says what to do; no stack.
  console.error(e?.name === 'VenvError' ? e.message : e);
  process.exitCode = 1;
});
