#!/usr/bin/env node
// Training-step throughput (images/s) of two conv nets on the tensorflow (native), wasm and cpu
// backends. Each backend runs in its own child process so one cannot slow or pollute another.
//   node scripts/native-bench.mjs [--backends tensorflow,wasm,cpu] [--models small,resnet18]
//                                 [--seconds 20] [--json out.json]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MODELS = {
  // Four conv/pool blocks, like a plain "simple-cnn" backbone.
  small: { size: 128, batch: 32 },
  // ResNet-18 layout (basic blocks, batch norm) at 128 px.
  resnet18: { size: 128, batch: 16 },
};

function parseArgs(argv) {
  const args = { backends: ['tensorflow', 'wasm', 'cpu'], models: ['small', 'resnet18'], seconds: 20, json: null, child: null };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === '--backends') args.backends = value.split(',');
    else if (key === '--models') args.models = value.split(',');
    else if (key === '--seconds') args.seconds = Number(value);
    else if (key === '--json') args.json = value;
    else if (key === '--child') args.child = value; // "<backend>:<model>"
    else {
      console.error(`Unknown argument ${key}. Use --backends, --models, --seconds or --json.`);
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

async function loadBackend(tf, backend) {
  if (backend === 'tensorflow') {
    await import('@tensorflow/tfjs-node');
  } else if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setThreadsCount?.(2);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
  await tf.ready();
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

function buildResnet18(tf, size) {
  const convBn = (x, filters, kernelSize, strides, relu) => {
    let y = tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false }).apply(x);
    y = tf.layers.batchNormalization({}).apply(y);
    return relu ? tf.layers.activation({ activation: 'relu' }).apply(y) : y;
  };
  const input = tf.input({ shape: [size, size, 3] });
  let x = convBn(input, 64, 7, 2, true);
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
  [64, 128, 256, 512].forEach((filters, stage) => {
    for (let block = 0; block < 2; block++) {
      const strides = stage > 0 && block === 0 ? 2 : 1;
      let shortcut = x;
      if (strides !== 1 || shortcut.shape[3] !== filters) shortcut = convBn(x, filters, 1, strides, false);
      let y = convBn(x, filters, 3, strides, true);
      y = convBn(y, filters, 3, 1, false);
      x = tf.layers.activation({ activation: 'relu' }).apply(tf.layers.add().apply([y, shortcut]));
    }
  });
  x = tf.layers.globalAveragePooling2d({}).apply(x);
  const output = tf.layers.dense({ units: 37, activation: 'sigmoid' }).apply(x);
  return tf.model({ inputs: input, outputs: output });
}

async function runChild(spec, seconds) {
  const [backend, modelName] = spec.split(':');
  const tf = await import('@tensorflow/tfjs');
  await loadBackend(tf, backend);
  const { size, batch } = MODELS[modelName];
  const model = modelName === 'small' ? buildSmall(tf, size) : buildResnet18(tf, size);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const xs = tf.randomUniform([batch, size, size, 3]);
  const ys = tf.randomUniform([batch, 37]);
  // Two warm-up steps: the first step compiles/allocates and is not representative.
  await model.trainOnBatch(xs, ys);
  await model.trainOnBatch(xs, ys);
  let steps = 0;
  const start = performance.now();
  // At least 3 measured steps; stop after `seconds` so the slow cpu backend stays bounded.
  while (steps < 3 || performance.now() - start < seconds * 1000) {
    await model.trainOnBatch(xs, ys);
    steps++;
    if (steps >= 200) break;
  }
  const elapsed = (performance.now() - start) / 1000;
  const result = { backend, model: modelName, size, batch, steps, seconds: +elapsed.toFixed(2), imagesPerSec: +((steps * batch) / elapsed).toFixed(2) };
  process.stdout.write(JSON.stringify(result) + '\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return runChild(args.child, args.seconds);
  const results = [];
  for (const model of args.models) {
    for (const backend of args.backends) {
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', `${backend}:${model}`, '--seconds', String(args.seconds)], {
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
      console.log(`${model.padEnd(9)} ${backend.padEnd(10)} ${String(r.imagesPerSec).padStart(8)} images/s  (${r.steps} steps of ${r.batch} at ${r.size}px in ${r.seconds}s)`);
    }
  }
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2) + '\n');
}

await main();
