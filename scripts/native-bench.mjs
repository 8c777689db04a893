#!/usr/bin/env node
// Training-step throughput (images/s) of two conv nets on the tensorflow (native), wasm and cpu
// backends. Each backend runs in its own child process so one cannot slow or pollute another.
//   node scripts/native-bench.mjs [--backends tensorflow,wasm,cpu] [--models small,resnet18,resnet50]
//                                 [--size 64] [--batch 16] [--seconds 20] [--json out.json]
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MODELS = {
  // Four conv/pool blocks, like a plain "simple-cnn" backbone.
  small: { size: 64, batch: 32 },
  // ResNet-18 layout: basic blocks [2, 2, 2, 2], batch norm.
  resnet18: { size: 64, batch: 16 },
  // ResNet-50 layout: bottleneck blocks [3, 4, 6, 3], batch norm.
  resnet50: { size: 64, batch: 16 },
};

function parseArgs(argv) {
  const args = {
    backends: ['tensorflow', 'wasm', 'cpu'],
    models: ['small', 'resnet18'],
    seconds: 20,
    json: null,
    child: null,
    size: null,
    batch: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === '--backends') args.backends = value.split(',');
    else if (key === '--models') args.models = value.split(',');
    else if (key === '--seconds') args.seconds = Number(value);
    else if (key === '--json') args.json = value;
    else if (key === '--size') args.size = Number(value);
    else if (key === '--batch') args.batch = Number(value);
    else if (key === '--child')
      args.child = value; // "<backend>:<model>"
    else {
      console.error(`Unknown argument ${key}. Use --backends, --models, --size, --batch, --seconds or --json.`);
      process.exit(2);
    }
    i++;
  }
  for (const m of args.models) {
    if (!MODELS[m]) {
      console.error(`Unknown model "${m}". Known: ${Object.keys(MODELS).join(', ')}.`);
      process.exit(2);
    }
  }
  return args;
}

// The app's own backend selection (dist/runtime/backend.js), so wasm gets gzx's gradient kernels
// (stock wasm lacks Conv2DBackpropFilter) and tensorflow is loaded the way `gzx train` loads it.
async function loadBackend(tf, backend) {
  const compiled = new URL('../dist/runtime/backend.js', import.meta.url);
  if (!existsSync(compiled)) throw new Error('dist/runtime/backend.js is missing; run `npm run build` first');
  const { selectBackend } = await import(compiled.href);
  const report = await selectBackend(backend, () => {});
  if (tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise: ${JSON.stringify(report.reasons)}`);
  return report;
}

function buildSmall(tf, size) {
  const model = tf.sequential();
  model.add(tf.layers.inputLayer({ inputShape: [size, size, 3] }));
  for (const filters of [32, 64, 128, 256]) {
    model.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  model.add(tf.layers.globalAveragePooling2d({}));
  model.add(tf.layers.dense({ units: 37, activation: 'sigmoid' }));
  return model;
}

function buildResnet(tf, size, bottleneck) {
  const convBn = (x, filters, kernelSize, strides, relu) => {
    let y = tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false }).apply(x);
    y = tf.layers.batchNormalization({}).apply(y);
    return relu ? tf.layers.activation({ activation: 'relu' }).apply(y) : y;
  };
  const blocksPerStage = bottleneck ? [3, 4, 6, 3] : [2, 2, 2, 2];
  const input = tf.input({ shape: [size, size, 3] });
  let x = convBn(input, 64, 7, 2, true);
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
  [64, 128, 256, 512].forEach((width, stage) => {
    const outFilters = bottleneck ? width * 4 : width;
    for (let block = 0; block < blocksPerStage[stage]; block++) {
      const strides = stage > 0 && block === 0 ? 2 : 1;
      let shortcut = x;
      if (strides !== 1 || shortcut.shape[3] !== outFilters) shortcut = convBn(x, outFilters, 1, strides, false);
      let y;
      if (bottleneck) {
        y = convBn(x, width, 1, 1, true);
        y = convBn(y, width, 3, strides, true);
        y = convBn(y, outFilters, 1, 1, false);
      } else {
        y = convBn(x, width, 3, strides, true);
        y = convBn(y, width, 3, 1, false);
      }
      x = tf.layers.activation({ activation: 'relu' }).apply(tf.layers.add().apply([y, shortcut]));
    }
  });
  x = tf.layers.globalAveragePooling2d({}).apply(x);
  const output = tf.layers.dense({ units: 37, activation: 'sigmoid' }).apply(x);
  return tf.model({ inputs: input, outputs: output });
}

async function runChild(spec, args) {
  const [backend, modelName] = spec.split(':');
  const tf = await import('@tensorflow/tfjs');
  const report = await loadBackend(tf, backend);
  const size = args.size ?? MODELS[modelName].size;
  const batch = args.batch ?? MODELS[modelName].batch;
  const model = modelName === 'small' ? buildSmall(tf, size) : buildResnet(tf, size, modelName === 'resnet50');
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const xs = tf.randomUniform([batch, size, size, 3]);
  const ys = tf.randomUniform([batch, 37]);
  // One warm-up step: the first step allocates (and on tensorflow initialises oneDNN) and is slow.
  await model.trainOnBatch(xs, ys);
  let steps = 0;
  const start = performance.now();
  // At least 3 measured steps; stop after `seconds` so the slow cpu backend stays bounded.
  while (steps < 3 || performance.now() - start < args.seconds * 1000) {
    await model.trainOnBatch(xs, ys);
    steps++;
    if (steps >= 200) break;
  }
  const elapsed = (performance.now() - start) / 1000;
  const result = {
    backend,
    threads: report.threads,
    model: modelName,
    size,
    batch,
    steps,
    seconds: +elapsed.toFixed(2),
    imagesPerSec: +((steps * batch) / elapsed).toFixed(2),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return runChild(args.child, args);
  const results = [];
  for (const model of args.models) {
    for (const backend of args.backends) {
      const childArgs = ['--child', `${backend}:${model}`, '--seconds', String(args.seconds)];
      if (args.size) childArgs.push('--size', String(args.size));
      if (args.batch) childArgs.push('--batch', String(args.batch));
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...childArgs], {
        encoding: 'utf8',
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
      });
      const line = child.stdout.trim().split('\n').pop() ?? '';
      if (child.status !== 0 || !line.startsWith('{')) {
        const why = (child.stderr || child.stdout).trim().split('\n').filter(Boolean).pop() ?? `exit ${child.status}`;
        console.log(`${model.padEnd(9)} ${backend.padEnd(10)} FAILED: ${why}`);
        results.push({ backend, model, error: why });
        continue;
      }
      const r = JSON.parse(line);
      results.push(r);
      console.log(
        `${model.padEnd(9)} ${backend.padEnd(10)} ${String(r.imagesPerSec).padStart(8)} images/s  (${r.steps} steps of ${r.batch} at ${r.size}px in ${r.seconds}s, ${r.threads} threads)`,
      );
    }
  }
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2) + '\n');
}

await main();
