#!/usr/bin/env node
// gzx against its PyTorch twin on the same real images and validation ids (bench/parity/README.md).
// `npm run parity [-- --data DIR --seeds 1,2,3 --config bench/parity/resnet18-64.yaml]`.
// Builds nothing itself (the npm script runs tsc first); creates the Python venv once.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv } from '../../scripts/python-venv.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HERE = path.join(REPO, 'bench', 'parity');

/**
 * One venv for both twins, pinned. torch from PyPI is its CUDA build and pulls NVIDIA's runtime
 * wheels (~3.2 GB downloaded, ~6 GB installed); the twins run it on the CPU. PyPI has no CPU-only
 * torch wheel for Linux (that is on download.pytorch.org).
 */
export const PARITY_REQUIREMENTS = ['torch==2.15.0', 'torchvision==0.29.2', 'fastai==2.8.12'];
const MARKER = '.gzx-parity-requirements';

function die(message) {
  process.stderr.write(`parity: ${message}\n`);
  process.exit(1);
}

/** GZX_PARITY_VENV, or .venv/parity in the repo (git-ignored). */
export function parityVenvDir() {
  return path.resolve(process.env.GZX_PARITY_VENV || path.join(REPO, '.venv', 'parity'));
}

/**
 * Makes sure the venv has the pinned packages (scripts/python-venv.mjs): a marker file written only
 * after pip succeeded, so later calls cost one read; a venv left unfinished by a failed or killed
 * install is rebuilt; a venv made by hand with exactly these versions is used as it is.
 * @returns {Promise<string>} the venv's python
 */
export function ensureParityVenv(log = (m) => process.stderr.write(`${m}\n`)) {
  return ensureVenv({
    venv: parityVenvDir(),
    requirements: PARITY_REQUIREMENTS,
    marker: MARKER,
    label: 'parity',
    rerun: 'npm run parity',
    envVar: 'GZX_PARITY_VENV',
    size: '~3.2 GB download, ~6 GB on disk, about 5 minutes',
    log,
  });
}

function parseArgs(argv) {
  const o = {
    data: path.resolve(REPO, '..', 'shared', 'galaxy-zoo', 'real-1000'),
    config: path.join(HERE, 'resnet18-64.yaml'),
    seeds: [1, 2, 3],
    engines: ['gzx', 'torch'],
    out: path.join(HERE, 'results.json'),
    work: path.join(REPO, 'runs', 'parity'),
    threads: os.availableParallelism(),
    init: 'gzx',
    bnVariance: 'biased',
    epochs: null,
    sets: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--data') o.data = path.resolve(v());
    else if (a === '--config') o.config = path.resolve(v());
    else if (a === '--seeds')
      o.seeds = v()
        .split(',')
        .map((s) => Number.parseInt(s, 10));
    else if (a === '--engines') o.engines = v().split(',');
    else if (a === '--out') o.out = path.resolve(v());
    else if (a === '--work') o.work = path.resolve(v());
    else if (a === '--threads') o.threads = Number.parseInt(v(), 10);
    else if (a === '--init') o.init = v();
    else if (a === '--bn-variance') o.bnVariance = v();
    else if (a === '--epochs') o.epochs = Number.parseInt(v(), 10);
    else if (a === '--set') o.sets.push(v());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'npm run parity -- [--data DIR] [--seeds 1,2,3] [--engines gzx,torch] [--config FILE] [--out FILE]\n' +
          '                  [--work DIR] [--threads N] [--init gzx|torchvision] [--bn-variance biased|unbiased]\n' +
          '                  [--epochs N] [--set k=v]…\n',
      );
      process.exit(0);
    } else die(`unknown option ${a} (see --help)`);
  }
  if (o.seeds.some((s) => !Number.isInteger(s) || s < 0)) die('--seeds takes non-negative integers, e.g. 1,2,3');
  if (!['gzx', 'torchvision'].includes(o.init)) die('--init takes gzx or torchvision');
  if (!['biased', 'unbiased'].includes(o.bnVariance)) die('--bn-variance takes biased or unbiased');
  for (const e of o.engines) if (!['gzx', 'torch'].includes(e)) die(`unknown engine ${e}; use gzx and/or torch`);
  return o;
}

/** Every fifth row of the CSV (rows 5, 10, …): a fixed validation set, whatever the seed. */
function writeValidIds(csvPath, file) {
  const lines = readFileSync(csvPath, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const ids = lines.slice(1).map((l) => l.slice(0, l.indexOf(',')));
  const valid = ids.filter((_, i) => i % 5 === 4);
  writeFileSync(file, `${valid.join('\n')}\n`);
  return { rows: ids.length, valid: valid.length };
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/**
 * Runs a command, echoing its stderr; returns stdout, exit code, wall seconds and (where GNU time
 * is installed) the CPU seconds of the process and its children (user + system).
 */
function runTimed(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const cpuFile = path.join(os.tmpdir(), `gzx-parity-cpu-${process.pid}-${Date.now()}.txt`);
    const [bin, argv] = GNU_TIME ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, cmd, ...args]] : [cmd, args];
    const child = spawn(bin, argv, { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (opts.echo) process.stderr.write(d);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    child.on('close', (code) => {
      let cpu = null;
      if (GNU_TIME && existsSync(cpuFile)) {
        const last = readFileSync(cpuFile, 'utf8').trim().split('\n').pop() ?? '';
        const [user, sys] = last.split(' ').map(Number);
        if (Number.isFinite(user) && Number.isFinite(sys)) cpu = user + sys;
        rmSync(cpuFile, { force: true });
      }
      resolve({ code, stdout, stderr, wall: Number(process.hrtime.bigint() - started) / 1e9, cpu });
    });
  });
}

function readMetrics(runDir) {
  const perEpoch = new Map();
  for (const line of readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (['images_per_sec', 'valid_rmse', 'baseline_rmse', 'train_loss_epoch', 'epoch', 'data_wait_pct'].includes(m.key)) {
      if (!perEpoch.has(m.step)) perEpoch.set(m.step, {});
      perEpoch.get(m.step)[m.key] = m.value;
    }
  }
  return [...perEpoch.values()].filter((e) => e.images_per_sec !== undefined);
}

async function runGzx(o, seed, validFile) {
  const args = ['bin/run.js', 'run', o.config, '--set', `seed=${seed}`, '--set', 'backend=tensorflow'];
  args.push('--set', `data.with.dir=${o.data}`, '--set', `data.with.valid=${validFile}`, '--set', `output_dir=${path.join(o.work, 'gzx')}`);
  // The twin gets the same values through config.resolved.json.
  if (o.epochs) args.push('--set', `train.phases.0.epochs=${o.epochs}`);
  for (const s of o.sets) args.push('--set', s);
  const r = await runTimed('node', args, { echo: true });
  const m = /run finished: (.+)$/m.exec(r.stdout);
  if (r.code !== 0 || !m) die(`gzx run (seed ${seed}) failed with exit ${r.code}; its output is above`);
  const runDir = path.resolve(REPO, m[1].trim());
  const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
  const epochs = readMetrics(runDir);
  // Every epoch trains the same number of images: total images / total time is the harmonic mean.
  const ips = epochs.length / epochs.reduce((a, e) => a + 1 / e.images_per_sec, 0);
  return {
    engine: 'gzx',
    seed,
    valid_rmse: summary.final.valid_rmse,
    baseline_rmse: summary.final.baseline_rmse,
    train_images_per_sec: ips,
    train_images_per_sec_after_epoch1: epochs.length > 1 ? (epochs.length - 1) / epochs.slice(1).reduce((a, e) => a + 1 / e.images_per_sec, 0) : null,
    wall_seconds: r.wall,
    cpu_seconds: r.cpu,
    run_dir: path.relative(REPO, runDir),
    backend: summary.backend,
    epochs,
  };
}

async function runTorch(o, python, seed, configJson, validFile) {
  const args = [path.join(HERE, 'torch_twin.py'), '--config-json', configJson, '--data', o.data, '--valid-ids', validFile];
  args.push('--seed', String(seed), '--threads', String(o.threads), '--init', o.init, '--bn-variance', o.bnVariance);
  if (o.epochs) args.push('--epochs', String(o.epochs));
  // OpenMP threads that spin while waiting burn the cores others need on a shared machine (4-5x
  // slower here under load); passive waiting unless the caller chose otherwise.
  const r = await runTimed(python, args, { env: { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } });
  if (r.code !== 0) die(`the PyTorch twin (seed ${seed}) failed with exit ${r.code}; its output is above`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  const e = res.epochs;
  return {
    ...res,
    train_images_per_sec_after_epoch1: e.length > 1 ? (e.length - 1) / e.slice(1).reduce((a, x) => a + 1 / x.images_per_sec, 0) : null,
    wall_seconds: r.wall,
    cpu_seconds: r.cpu,
  };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);

function stats(runs, key) {
  const xs = runs.map((r) => r[key]).filter((x) => typeof x === 'number');
  if (xs.length === 0) return null;
  return { mean: mean(xs), std: std(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

function table(results) {
  const rows = [['engine', 'seed', 'valid RMSE', 'baseline', 'train img/s', 'img/s ep2+', 'wall s', 'CPU s']];
  const f = (x, d) => (typeof x === 'number' ? x.toFixed(d) : '–');
  for (const r of results.runs) {
    rows.push([
      r.engine,
      String(r.seed),
      f(r.valid_rmse, 4),
      f(r.baseline_rmse, 4),
      f(r.train_images_per_sec, 1),
      f(r.train_images_per_sec_after_epoch1, 1),
      f(r.wall_seconds, 0),
      f(r.cpu_seconds, 0),
    ]);
  }
  for (const [engine, s] of Object.entries(results.summary)) {
    rows.push([
      engine,
      'mean±sd',
      `${f(s.valid_rmse?.mean, 4)}±${f(s.valid_rmse?.std, 4)}`,
      f(s.baseline_rmse?.mean, 4),
      `${f(s.train_images_per_sec?.mean, 1)}±${f(s.train_images_per_sec?.std, 1)}`,
      f(s.train_images_per_sec_after_epoch1?.mean, 1),
      f(s.wall_seconds?.mean, 0),
      f(s.cpu_seconds?.mean, 0),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r) => `| ${r.map((x, c) => x.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(o.config)) die(`config ${o.config} does not exist`);
  if (!existsSync(path.join(REPO, 'dist', 'cli', 'commands.js'))) die('gzx is not built; run `npx tsc -p tsconfig.json` (npm run parity does)');
  if (!existsSync(o.data) || !statSync(o.data).isDirectory()) {
    die(`data directory ${o.data} does not exist; pass --data DIR (a folder with training_solutions_partial.csv and images_training_rev1/)`);
  }
  mkdirSync(o.work, { recursive: true });

  // The resolved config, exactly as gzx will run it (the twin reads this file).
  const validFile = path.join(o.work, 'valid-ids.txt');
  const sets = [
    'backend=tensorflow',
    `data.with.dir=${o.data}`,
    `data.with.valid=${validFile}`,
    ...(o.epochs ? [`train.phases.0.epochs=${o.epochs}`] : []),
    ...o.sets,
  ];
  const resolve = (extra) =>
    spawnSync('node', ['bin/run.js', 'config', o.config, '--json', ...[...extra].flatMap((s) => ['--set', s])], { cwd: REPO, encoding: 'utf8' });
  // The CSV's name comes from the config; the id file is written from it before gzx reads it.
  const first = resolve(sets.filter((s) => !s.startsWith('data.with.valid=')));
  if (first.status !== 0) die(`gzx config ${o.config} failed: ${first.stderr.trim().split('\n')[0]}`);
  const { csv, images } = JSON.parse(first.stdout).data.with;
  const csvPath = path.join(o.data, csv);
  if (!existsSync(csvPath)) die(`data directory ${o.data} has no ${csv}`);
  if (!existsSync(path.join(o.data, images))) die(`data directory ${o.data} has no ${images}/`);
  const split = writeValidIds(csvPath, validFile);
  const cfgRun = resolve(sets);
  if (cfgRun.status !== 0) die(`gzx config ${o.config} failed: ${cfgRun.stderr.trim().split('\n')[0]}`);
  const cfg = JSON.parse(cfgRun.stdout);
  const configJson = path.join(o.work, 'config.resolved.json');
  writeFileSync(configJson, JSON.stringify(cfg, null, 2));

  let python = null;
  if (o.engines.includes('torch')) {
    try {
      python = await ensureParityVenv();
    } catch (e) {
      if (e.name !== 'VenvError') throw e;
      process.stderr.write(`${e.message}\n`); // one line, already prefixed "parity: "
      process.exit(1);
    }
  }
  let normalisationMaxDiff = null;
  if (python) {
    const check = spawnSync(
      python,
      [
        '-c',
        `import sys; sys.path.insert(0, ${JSON.stringify(HERE)}); import galaxy_torch as g; print(g.check_normalisation(${JSON.stringify(REPO)}, rows=1000, seed=7))`,
      ],
      { cwd: REPO, encoding: 'utf8' },
    );
    if (check.status !== 0) die(`the twin's normalisation check failed: ${check.stderr.trim().split('\n').pop()}`);
    normalisationMaxDiff = Number(check.stdout.trim());
    process.stderr.write(`parity: twin normalisation = gzx normaliseAnswers on 1002 random rows (max |diff| ${normalisationMaxDiff})\n`);
  }

  process.stderr.write(
    `parity: ${split.rows} rows, ${split.valid} validation ids (every 5th row) in ${validFile}; seeds ${o.seeds.join(', ')}; engines take turns\n`,
  );
  const runs = [];
  const load = [];
  for (const [i, seed] of o.seeds.entries()) {
    // Alternate who goes first, so drift in the machine's speed falls on both engines alike.
    const order = i % 2 === 0 ? o.engines : [...o.engines].reverse();
    for (const engine of order) {
      process.stderr.write(`parity: ${engine}, seed ${seed} (load average ${os.loadavg()[0].toFixed(2)})\n`);
      load.push({ engine, seed, loadavg_1min_before: os.loadavg()[0] });
      const r = engine === 'gzx' ? await runGzx(o, seed, validFile) : await runTorch(o, python, seed, configJson, validFile);
      r.loadavg_1min_after = os.loadavg()[0];
      runs.push(r);
    }
  }

  const summary = {};
  for (const engine of o.engines) {
    const rs = runs.filter((r) => r.engine === engine);
    summary[engine] = Object.fromEntries(
      ['valid_rmse', 'baseline_rmse', 'train_images_per_sec', 'train_images_per_sec_after_epoch1', 'wall_seconds', 'cpu_seconds'].map((k) => [
        k,
        stats(rs, k),
      ]),
    );
  }
  const ratio = (k) => (summary.gzx?.[k] && summary.torch?.[k] ? summary.gzx[k].mean / summary.torch[k].mean : null);
  const results = {
    command: process.argv.length > 2 ? `npm run parity -- ${process.argv.slice(2).join(' ')}` : 'npm run parity',
    date: new Date().toISOString(),
    host: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? '?', platform: `${process.platform}-${process.arch}` },
    data: {
      dir: o.data,
      csv: cfg.data.with.csv,
      rows: split.rows,
      train: split.rows - split.valid,
      valid: split.valid,
      valid_ids: 'every 5th CSV row (rows 5, 10, …)',
    },
    config: path.relative(REPO, o.config),
    seeds: o.seeds,
    threads: {
      gzx: `tensorflow backend: libtensorflow's default thread pools (${os.availableParallelism()} cores); ${cfg.train.workers === 'auto' ? os.availableParallelism() : cfg.train.workers} image workers (decode in epoch 1 only, images cached)`,
      torch: `torch.set_num_threads(${o.threads}), interop 1, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'PASSIVE'}; images decoded once up front in ${o.threads} threads`,
    },
    load_note: 'loadavg_1min_after per run: the machine is shared; speed figures are only as steady as it was',
    twin_init: o.init,
    twin_bn_moving_variance: o.bnVariance,
    normalisation_max_abs_diff: normalisationMaxDiff,
    runs,
    summary,
    ratios: {
      gzx_over_torch_valid_rmse: ratio('valid_rmse'),
      gzx_over_torch_train_images_per_sec: ratio('train_images_per_sec'),
      gzx_over_torch_train_images_per_sec_after_epoch1: ratio('train_images_per_sec_after_epoch1'),
      gzx_over_torch_wall_seconds: ratio('wall_seconds'),
      gzx_over_torch_cpu_seconds: ratio('cpu_seconds'),
    },
  };
  writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${table(results)}\n`);
  const r = results.ratios;
  if (r.gzx_over_torch_valid_rmse !== null) {
    process.stdout.write(
      `gzx ÷ torch: valid RMSE ${r.gzx_over_torch_valid_rmse.toFixed(4)} (target ≤ 1.02), train img/s ${r.gzx_over_torch_train_images_per_sec.toFixed(2)}` +
        ` (epochs 2+: ${r.gzx_over_torch_train_images_per_sec_after_epoch1?.toFixed(2) ?? '–'}), wall time ${r.gzx_over_torch_wall_seconds.toFixed(2)}` +
        `${r.gzx_over_torch_cpu_seconds ? `, CPU time ${r.gzx_over_torch_cpu_seconds.toFixed(2)}` : ''}\n`,
    );
  }
  process.stdout.write(`wrote ${path.relative(process.cwd(), o.out) || o.out}\n`);
}

// Run only as a script, so the venv helpers can be imported.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
