// The native backend's thread setting (`threads:` in the config, TF_NUM_*_THREADS, GZX_CONCURRENT_RUNS):
// how it resolves, that libtensorflow really gets it (its thread count follows), that the run's
// backend line and `gzx doctor` show it, and that training gives the same numbers, to float
// rounding, whatever the threads. The native parts are skipped when @tensorflow/tfjs-node is not
// set up, unless GZX_REQUIRE_NATIVE=1.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveNativeThreads } from '../../../src/runtime/backend.js';
import { nativeLoads, nativeRequired } from '../../helpers/native.js';
import { REPO, BIN } from '../../helpers/paths.js';

const root = REPO;
const required = nativeRequired;
const native = await nativeLoads();

describe('resolveNativeThreads', () => {
  it('auto, a run alone: every core the process may use for one op, as many ops at once', () => {
    expect(resolveNativeThreads({}, {}, 8)).toMatchObject({ intraOp: 8, interOp: 8 });
    expect(resolveNativeThreads({ intra_op: 'auto', inter_op: 'auto' }, {}, 2)).toMatchObject({ intraOp: 2, interOp: 2 });
    expect(resolveNativeThreads({ intra_op: 1 }, {}, 2)).toMatchObject({ intraOp: 1, interOp: 1 });
  });

  it('auto divides the cores among GZX_CONCURRENT_RUNS runs, at least one each, one op at a time', () => {
    expect(resolveNativeThreads({}, { GZX_CONCURRENT_RUNS: '2' }, 8)).toMatchObject({ intraOp: 4, interOp: 1 });
    expect(resolveNativeThreads({}, { GZX_CONCURRENT_RUNS: '1' }, 8)).toMatchObject({ intraOp: 8, interOp: 8 });
    expect(resolveNativeThreads({}, { GZX_CONCURRENT_RUNS: '3' }, 8).intraOp).toBe(2);
    expect(resolveNativeThreads({}, { GZX_CONCURRENT_RUNS: '4' }, 2).intraOp).toBe(1);
    expect(resolveNativeThreads({}, { GZX_CONCURRENT_RUNS: 'lots' }, 2)).toMatchObject({ intraOp: 2, interOp: 2 });
  });

  it("TensorFlow's own variables replace auto; a number in the config replaces both", () => {
    const env = { TF_NUM_INTRAOP_THREADS: '3', TF_NUM_INTEROP_THREADS: '2', GZX_CONCURRENT_RUNS: '2' };
    expect(resolveNativeThreads({}, env, 8)).toMatchObject({ intraOp: 3, interOp: 2 });
    const r = resolveNativeThreads({ intra_op: 5, inter_op: 'auto' }, env, 8);
    expect(r).toMatchObject({ intraOp: 5, interOp: 2 });
    expect(r.why).toMatch(/intra_op 5 from the config/);
    expect(r.why).toMatch(/inter_op from TF_NUM_INTEROP_THREADS/);
    expect(resolveNativeThreads({}, { TF_NUM_INTRAOP_THREADS: '0' }, 4).intraOp).toBe(4);
  });
});

/**
 * A fresh process (libtensorflow reads its pool sizes once, at load) that selects the backend with
 * `threads`, trains a small CNN with the galaxy-zoo head for 4 Adam steps (compiled passes, as a run
 * does), and prints its OS thread count, its backend line and the losses.
 */
function trainInChild(threads: { intra_op: number; inter_op: number }) {
  const dist = (p: string) => pathToFileURL(path.join(root, 'dist', p)).href;
  const script = `
    import fs from 'node:fs';
    import * as tf from '@tensorflow/tfjs';
    const { selectBackend } = await import(${JSON.stringify(dist('runtime/backend.js'))});
    const { simpleCnnBackbone } = await import(${JSON.stringify(dist('plugins/backbone/simple-cnn.js'))});
    const { createGalaxyZooHead } = await import(${JSON.stringify(dist('plugins/head/galaxy-zoo.js'))});
    const { Optimizer } = await import(${JSON.stringify(dist('framework/optimizers.js'))});
    const { compiledPassesFor } = await import(${JSON.stringify(dist('runtime/traced-pass.js'))});
    const lines = [];
    const wave = (n, step, phase, scale, offset, shape) => tf.tensor(Float32Array.from({ length: n }, (_, k) => offset + scale * Math.sin(k * step + phase)), shape);
    await selectBackend('tensorflow', (m) => lines.push(m), ${JSON.stringify(threads)});
    const threadsOfProcess = () => Number(/Threads:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
    const backbone = simpleCnnBackbone.create({ channels: [8, 16, 32], convs_per_block: 1 }, {});
    const built = backbone.build(tf);
    const head = createGalaxyZooHead({ ps: 0, hidden: 32, pool: 'concat', normalise: true });
    const model = tf.model({ inputs: built.inputs, outputs: head.build(tf, built.features) });
    // Fixed weights: the same in every process whatever the initialisers draw.
    model.setWeights(model.weights.map((v, i) => tf.tidy(() => {
      const shape = v.shape;
      if (shape.length === 1) return /gamma|variance|head_dense2.bias/.test(v.name) ? tf.ones(shape) : tf.zeros(shape);
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return wave(fanIn * shape[shape.length - 1], 1.7, i, 1.5 / Math.sqrt(fanIn), 0, shape);
    })));
    const x = wave(8 * 32 * 32 * 3, 0.37, 2, 0.5, 0.5, [8, 32, 32, 3]);
    const y = wave(8 * 37, 1, 0, 0.5, 0.5, [8, 37]);
    const optimizer = new Optimizer({ name: 'adam', wd: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9, nesterov: false });
    const variables = new Map(model.trainableWeights.map((w) => [w.name, w.read()]));
    const passes = compiledPassesFor('tensorflow', () => {});
    const losses = [];
    for (let s = 0; s < 4; s++) {
      const loss = tf.tidy(() => {
        const { value, grads } = passes.run('step', [x, y], () =>
          tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }))));
        optimizer.apply(grads, variables, () => 1e-2);
        return value;
      });
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    console.log(JSON.stringify({ osThreads: threadsOfProcess(), lines, losses }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', TF_NUM_INTRAOP_THREADS: '', TF_NUM_INTEROP_THREADS: '', GZX_CONCURRENT_RUNS: '' },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { osThreads: number; lines: string[]; losses: number[] };
}

describe.skipIf(!native && !required)('native thread pools', () => {
  it('reach libtensorflow, show in the backend line, and leave the losses as they were to float rounding', () => {
    const one = trainInChild({ intra_op: 1, inter_op: 1 });
    const three = trainInChild({ intra_op: 3, inter_op: 1 });
    const both = trainInChild({ intra_op: 3, inter_op: 2 });
    // TensorFlow starts a thread per intra-op slot (two more here); more inter-op slots start more
    // threads (one per pool: the eager context's and the compiled pass's session).
    expect(three.osThreads - one.osThreads).toBe(2);
    expect(both.osThreads).toBeGreaterThan(three.osThreads);
    expect(one.lines[0]).toMatch(
      /^backend: tensorflow \(.*intra-op 1 \/ inter-op 1 threads \(intra_op 1 from the config, inter_op 1 from the config\)\)/,
    );
    expect(both.lines[0]).toMatch(/intra-op 3 \/ inter-op 2 threads/);
    expect(one.losses[3]).toBeLessThan(one.losses[0]);
    for (const other of [three, both]) {
      other.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i]) / one.losses[i]).toBeLessThan(1e-4));
    }
  }, 180_000);

  it("gzx doctor names the pools a run gets, following TensorFlow's variables", () => {
    const report = JSON.parse(
      execFileSync(process.execPath, [BIN, 'doctor', '--json'], {
        encoding: 'utf8',
        env: { ...process.env, TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '2' },
      }),
    );
    expect(report.nativeThreads).toMatchObject({ intraOp: 1, interOp: 2 });
    expect(report.backends.find((b: { candidate: string }) => b.candidate === 'tensorflow').threads).toBe(1);
  }, 120_000);
});
