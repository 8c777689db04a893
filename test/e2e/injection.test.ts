// Services from the run's container (issue 16): plugins get what they declare in `inject:`, and a
// plugin module's `services` hook replaces the checkpoint store or the image decoder, which gzx then
// uses for the run (and resume); without the module, gzx's own are used.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { trainExperiment } from '../../src/app/experiment.js';
import { serviceContext } from '../../src/app/services.js';
import { SERVICE_NAMES, createPlugin } from '../../src/framework/services.js';
import type { PluginDefinition } from '../../src/framework/plugin.js';
import { fileCheckpointStore } from '../../src/framework/checkpoint.js';
import { defaultImageDecoder } from '../../src/vision/pipeline/index.js';
import { UserError } from '../../src/base/errors.js';
import { PluginRegistry } from '../../src/framework/registry.js';
import { describePlugins, formatPluginList } from '../../src/framework/config/describe.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { REPO } from '../helpers/paths.js';

const tmpDir = useTmpDir('gzx-injection-');
const keepCheckpoints = path.join(REPO, 'examples/plugins/keep-checkpoints/index.js');
const g = globalThis as Record<string, any>;

/** Plain-JS modules as a third party writes them: no import from gzx, services named by string. */
const MODULES: Record<string, string> = {
  // Counts decodes, then decodes as before.
  'count-decodes.js': `export function services(container) {
  const base = container.resolve('imageDecoder');
  container.register('imageDecoder', { useValue: { decode: (file, opts) => { globalThis.gzxDecodes = (globalThis.gzxDecodes ?? 0) + 1; return base.decode(file, opts); } } });
}
`,
  // Records which store methods the run called.
  'spy-store.js': `export function services(container) {
  const base = container.resolve('checkpointStore');
  const calls = (globalThis.gzxStoreCalls ??= []);
  container.register('checkpointStore', { useValue: {
    write: (...a) => { calls.push('write'); return base.write(...a); },
    read: (...a) => { calls.push('read'); return base.read(...a); },
    restore: (...a) => { calls.push('restore'); return base.restore(...a); },
  } });
}
`,
  // A callback that declares services, one that asks for one gzx lacks, and one that stops the run
  // (as Ctrl-C does) after the first epoch while globalThis.gzxAbort is set.
  'callbacks.js': `const opts = { type: 'object', additionalProperties: false, properties: {} };
export const plugins = [
  { name: 'wants-services', kind: 'callback', description: 'records its services', optionsSchema: opts,
    inject: ['runDir', 'rng', 'loggers', 'dataModule', 'dataSplits', 'checkpointStore', 'imageDecoder', 'config', 'runInfo', 'seed'],
    create(options, ctx) { (globalThis.gzxInjected ??= []).push(ctx.services); return { name: 'wants-services' }; } },
  { name: 'asks-badly', kind: 'callback', description: 'asks for rnd', optionsSchema: opts, inject: ['rnd'],
    create() { return { name: 'asks-badly' }; } },
  { name: 'abort-after-first', kind: 'callback', description: 'stops after epoch 1', optionsSchema: opts,
    create() { return { name: 'abort-after-first', afterEpoch: () => globalThis.gzxAbort?.abort() }; } },
];
`,
};

async function writeModules(): Promise<void> {
  for (const [name, text] of Object.entries(MODULES)) await fs.writeFile(path.join(tmpDir(), name), text);
}

async function config(name: string, extra: { plugins?: string[]; callbacks?: string[]; workers?: number; epochs?: number } = {}): Promise<string> {
  const file = path.join(tmpDir(), `${name}.yaml`);
  const plugins = (extra.plugins ?? []).map((p) => JSON.stringify(p.endsWith('.js') && !path.isAbsolute(p) ? path.join(tmpDir(), p) : p));
  await fs.writeFile(
    file,
    `name: ${name}
seed: 2
backend: cpu
output_dir: ${tmpDir()}/runs
plugins: [${plugins.join(', ')}]
data: {use: synthetic, with: {dir: ${tmpDir()}/data, count: 40, size: 64, valid_fraction: 0.25}}
backbone: {use: simple-cnn, with: {channels: [4, 8]}}
head: {use: galaxy-zoo, with: {ps: 0.1, hidden: 8}}
logger: []
callbacks: [${(extra.callbacks ?? []).map((c) => `{use: ${c}}`).join(', ')}]
train: {size: 16, batch_size: 10, workers: ${extra.workers ?? 0}, cache_images: false, phases: [{epochs: ${extra.epochs ?? 2}}]}
`,
  );
  return file;
}

const weights = async (runDir: string) => fs.readFile(path.join(runDir, 'model', 'weights.bin'));
const state = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8'));
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

describe('replacing a service from a plugin module', () => {
  let plain: { runDir: string };

  it('without a module, gzx uses its own checkpoint store and decoder', async () => {
    await writeModules();
    g.gzxDecodes = 0;
    const result = await trainExperiment({ configFile: await config('plain'), log: () => undefined });
    expect(result.status).toBe('FINISHED');
    plain = result;
    expect(await state(path.join(result.runDir, 'checkpoint'))).toMatchObject({ epoch: 2 });
    expect(await exists(path.join(result.runDir, 'checkpoints'))).toBe(false);
    expect(g.gzxDecodes).toBe(0);
  });

  it('examples/plugins/keep-checkpoints replaces the checkpoint store: every epoch is kept, the numbers are the same', async () => {
    const lines: string[] = [];
    const result = await trainExperiment({ configFile: await config('kept', { plugins: [keepCheckpoints] }), log: (m) => lines.push(m) });
    expect(result.status).toBe('FINISHED');
    const kept = path.join(result.runDir, 'checkpoints');
    expect((await fs.readdir(kept)).sort()).toEqual(['epoch-001', 'epoch-002']);
    expect(await state(path.join(kept, 'epoch-001', 'checkpoint'))).toMatchObject({ epoch: 1, phase: 0, epochInPhase: 1 });
    expect(await state(path.join(kept, 'epoch-002', 'checkpoint'))).toMatchObject({ epoch: 2, phase: 1 });
    expect(await state(path.join(result.runDir, 'checkpoint'))).toMatchObject({ epoch: 2 });
    expect(lines).toContain('keep-checkpoints: epoch 1 kept in checkpoints/epoch-001');
    expect((await weights(result.runDir)).equals(await weights(plain.runDir))).toBe(true);
  });

  it('a replaced decoder decodes every image, in the main thread even when workers are asked for', async () => {
    g.gzxDecodes = 0;
    const lines: string[] = [];
    const result = await trainExperiment({
      configFile: await config('counted', { plugins: ['count-decodes.js'], workers: 2 }),
      log: (m) => lines.push(m),
    });
    expect(result.status).toBe('FINISHED');
    // 30 training and 10 validation images, decoded again each of the 2 epochs (cache_images: false).
    expect(g.gzxDecodes).toBe(2 * 40);
    expect(lines.some((l) => l.startsWith('images: decoded in the main thread (a plugin module replaced the imageDecoder service'))).toBe(true);
    expect(JSON.parse(await fs.readFile(path.join(result.runDir, 'params.json'), 'utf8'))['train.workers']).toBe('0');
    expect((await weights(result.runDir)).equals(await weights(plain.runDir))).toBe(true);
  });

  it('resume reads and restores through the replaced store, and ends as a run never stopped', async () => {
    g.gzxStoreCalls = [];
    g.gzxAbort = new AbortController();
    const file = await config('resumed', { plugins: ['spy-store.js', 'callbacks.js'], callbacks: ['abort-after-first'] });
    const parted = await trainExperiment({ configFile: file, signal: g.gzxAbort.signal, log: () => undefined });
    expect(parted.status).toBe('KILLED');
    expect(g.gzxStoreCalls).toEqual(['write']);
    g.gzxAbort = undefined;
    const resumed = await trainExperiment({ resumeDir: parted.runDir, log: () => undefined });
    expect(resumed.status).toBe('FINISHED');
    expect(g.gzxStoreCalls).toEqual(['write', 'read', 'restore', 'write']);
    expect((await weights(resumed.runDir)).equals(await weights(plain.runDir))).toBe(true);
  });
});

describe('plugins get the services they declare', () => {
  it('a callback receives its inject: list from the run container', async () => {
    g.gzxInjected = [];
    const result = await trainExperiment({
      configFile: await config('injected', { plugins: ['callbacks.js'], callbacks: ['wants-services', 'wants-services'], epochs: 1 }),
      log: () => undefined,
    });
    expect(result.status).toBe('FINISHED');
    const [first, second] = g.gzxInjected;
    expect(Object.keys(first).sort()).toEqual([
      'checkpointStore',
      'config',
      'dataModule',
      'dataSplits',
      'imageDecoder',
      'loggers',
      'rng',
      'runDir',
      'runInfo',
      'seed',
    ]);
    expect(first.runDir).toBe(result.runDir);
    expect(first.seed).toBe(2);
    expect(first.checkpointStore).toBe(fileCheckpointStore);
    expect(first.imageDecoder).toBe(defaultImageDecoder);
    expect(first.dataSplits.train.length).toBe(30);
    expect(typeof first.dataModule.trainBatches).toBe('function');
    expect(first.runInfo.runId).toBe(path.basename(result.runDir));
    expect(first.loggers).toHaveLength(1); // the local logger, always added
    // Each plugin its own generator, seeded by the experiment seed and its place (callbacks[0], callbacks[1]).
    const a = first.rng.next();
    const b = second.rng.next();
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).not.toBe(b);
  });

  it('an unknown service is one UserError naming the plugin and the services, before any run folder', async () => {
    const file = await config('bad-inject', { plugins: ['callbacks.js'], callbacks: ['asks-badly'] });
    const before = await fs.readdir(path.join(tmpDir(), 'runs'));
    const err = await trainExperiment({ configFile: file, log: () => undefined }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain(
      'callbacks.0.use: callback plugin "asks-badly" asks for the service "rnd", which gzx does not have. Did you mean "rng"?',
    );
    expect(err.message).toContain(`Services: ${SERVICE_NAMES.join(', ')}`);
    expect(await fs.readdir(path.join(tmpDir(), 'runs'))).toEqual(before);
  });

  it('gzx plugins shows what a plugin declares', async () => {
    const registry = new PluginRegistry();
    await registry.loadModules(['./callbacks.js'], tmpDir());
    expect(formatPluginList(describePlugins(registry, 'callback'))).toContain('callback/asks-badly  asks for rnd\n    services (inject): rnd\n');
  });

  it('a service not available where the plugin is made is a UserError listing what is', async () => {
    const ctx = serviceContext({ tf, seed: 1, runDir: tmpDir(), configDir: tmpDir(), log: () => undefined });
    const def: PluginDefinition = { name: 'early', kind: 'data', description: '', optionsSchema: {}, inject: ['dataModule'], create: () => ({}) };
    const err = await createPlugin(def, {}, ctx, 'data').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /^data: data plugin "early" asks for the service "dataModule" \(.*\), which is not available where data plugins are made by this command\. Available here: .*runDir.*checkpointStore/,
    );
  });
});
