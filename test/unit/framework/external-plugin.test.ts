// A third-party plugin (examples/plugins/gaussian-noise, plain JS) loaded the way users load one: from a config.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadExperiment } from '../../../src/framework/config/load.js';
import { PluginRegistry } from '../../../src/framework/registry.js';
import { SeededRng } from '../../../src/base/random.js';
import { UserError } from '../../../src/base/errors.js';
import { displayPath } from '../../../src/framework/config/origins.js';
import type { Augmentation, RawImage, Schedule } from '../../../src/framework/contracts.js';
import type { PluginContext } from '../../../src/framework/plugin.js';

const FIXTURES = path.join(ALL_FIXTURES, 'config');
import { SAMPLE_DIR } from '../../helpers/samples.js';
import { REPO, FIXTURES as ALL_FIXTURES } from '../../helpers/paths.js';
const SAMPLE = `${SAMPLE_DIR}/101654.jpg`;

async function galaxy(size: number): Promise<RawImage> {
  const { data, info } = await sharp(SAMPLE).resize(size, size).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

async function noiseFrom(sets: string[] = []): Promise<Augmentation> {
  const registry = new PluginRegistry();
  const { config } = await loadExperiment(path.join(FIXTURES, 'with-noise.yaml'), sets, registry);
  const ref = config.augment[0];
  // Only the pieces an augmentation uses; tf and the container are not needed to make one.
  const ctx = { seed: config.seed, runDir: '', configDir: FIXTURES, log: () => {} } as unknown as PluginContext;
  return (await registry.get('augment', ref.use).create(ref.with, ctx)) as Augmentation;
}

describe('gaussian-noise example plugin', () => {
  it('loads from plugins: in a config and gets its schema defaults filled', async () => {
    const registry = new PluginRegistry();
    const { config } = await loadExperiment(path.join(FIXTURES, 'with-noise.yaml'), [], registry);
    expect(registry.get('augment', 'gaussian-noise').description).toMatch(/Gaussian/);
    expect(config.augment).toEqual([{ use: 'gaussian-noise', with: { sigma: 12, p: 1, per_channel: true } }]);
  });

  it('its example config (quickstart + noise, built-in plugins) validates', async () => {
    const { createRegistry } = await import('../../../src/cli/registry.js');
    const example = path.join(REPO, 'examples/plugins/gaussian-noise/example.yaml');
    const { config } = await loadExperiment(example, [], createRegistry());
    expect(config.augment.map((a) => a.use)).toEqual(['flip', 'rotate', 'gaussian-noise']);
    expect(config.augment[2].with).toEqual({ sigma: 8, p: 0.5, per_channel: true });
  });

  it('rejects wrong options with their location, from a file and from --set', async () => {
    const bad = path.join(FIXTURES, 'with-noise-bad.yaml');
    const err = await loadExperiment(bad, [], new PluginRegistry()).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message.split('\n').slice(1)).toEqual([
      `${displayPath(bad)}:4:19: augment.0.with.sigma: expected a number > 0, got -1.`,
      `${displayPath(bad)}:4:23: augment.0.with.per_chanel: unknown key; allowed here: sigma, p, per_channel. Did you mean "per_channel"?`,
    ]);
    const viaSet = await noiseFrom(['augment.0.with.sigma=100']).catch((e) => e);
    expect(viaSet.message).toBe('--set augment.0.with.sigma=100: augment.0.with.sigma: expected a number <= 64, got 100.');
  });

  it('adds zero-mean noise of the drawn strength to a real galaxy image, same size out', async () => {
    const image = await galaxy(128);
    const noise = await noiseFrom();
    const out = await noise.apply(image, new SeededRng(7));
    expect([out.width, out.height, out.channels, out.data.length]).toEqual([128, 128, 3, image.data.length]);
    // Replay the plugin's first two draws: apply-or-not, then the strength in [0, sigma].
    const replay = new SeededRng(7);
    replay.next();
    const strength = replay.next() * 12;
    // Statistics on pixels far from 0 and 255, where clipping cannot bias the noise.
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < image.data.length; i++) {
      if (image.data[i] < 60 || image.data[i] > 195) continue;
      const d = out.data[i] - image.data[i];
      n++;
      sum += d;
      sumSq += d * d;
    }
    expect(n).toBeGreaterThan(1000);
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.5);
    expect(std).toBeGreaterThan(strength * 0.9);
    expect(std).toBeLessThan(strength * 1.1 + 0.3); // + rounding to integers
  });

  it('is reproducible from the rng alone, and p and per_channel do what they say', async () => {
    const image = await galaxy(64);
    const noise = await noiseFrom();
    const a = await noise.apply(image, new SeededRng(1));
    const b = await noise.apply(image, new SeededRng(1));
    const c = await noise.apply(image, new SeededRng(2));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(Buffer.from(a.data).equals(Buffer.from(c.data))).toBe(false);
    expect(image.data).toEqual((await galaxy(64)).data); // the input is not modified

    const never = await noiseFrom(['augment.0.with.p=0']);
    expect((await never.apply(image, new SeededRng(1))).data).toEqual(image.data);

    const grey = await noiseFrom(['augment.0.with.per_channel=false']);
    const g = await grey.apply(image, new SeededRng(3));
    let unclipped = 0;
    for (let px = 0; px < 64 * 64; px++) {
      const d = [0, 1, 2].map((ch) => g.data[px * 3 + ch] - image.data[px * 3 + ch]);
      const inRange = [0, 1, 2].every((ch) => g.data[px * 3 + ch] > 0 && g.data[px * 3 + ch] < 255);
      if (!inRange) continue;
      unclipped++;
      // Same noise on each channel: differences agree up to rounding.
      expect(Math.max(...d) - Math.min(...d)).toBeLessThanOrEqual(1);
    }
    expect(unclipped).toBeGreaterThan(500);
  });
});

describe('step-decay example plugin (kind schedule)', () => {
  it('loads from a config, serves as top-level and phase schedule, and drops the rate at the milestones', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-step-'));
    const file = path.join(dir, 'step.yaml');
    const stepModule = path.join(REPO, 'examples/plugins/step-decay/index.js');
    fs.writeFileSync(
      file,
      `plugins: [${JSON.stringify(path.join(FIXTURES, 'fixture-plugins.js'))}, ${JSON.stringify(stepModule)}]\n` +
        'data: {use: fixture-data, with: {root: x}}\nbackbone: {use: fixture-backbone}\nhead: {use: fixture-head}\nlogger: []\n' +
        'schedule: {use: step-decay, with: {factor: 4}}\n' +
        'train:\n  phases:\n    - {epochs: 1, lr: 0.08}\n    - {epochs: 1, schedule: {use: step-decay, with: {milestones: [0.9, 0.1]}}}\n',
    );
    const registry = new PluginRegistry();
    const { config } = await loadExperiment(file, [], registry);
    expect(config.train.phases[0].schedule).toEqual({ use: 'step-decay', with: { milestones: [0.5, 0.75], factor: 4 } });
    expect(config.train.phases[1].schedule).toEqual({ use: 'step-decay', with: { milestones: [0.9, 0.1], factor: 10 } });

    const make = (ref: { use: string; with: Record<string, unknown> }) =>
      registry.get('schedule', ref.use).create(ref.with, {} as PluginContext) as Schedule;
    const first = make(config.train.phases[0].schedule!);
    expect([0, 0.49, 0.5, 0.74, 0.75, 0.99].map((p) => first.at(p, 0.08).lr)).toEqual([0.08, 0.08, 0.02, 0.02, 0.005, 0.005]);
    const second = make(config.train.phases[1].schedule!);
    expect([0.05, 0.5, 0.95].map((p) => second.at(p, 1).lr)).toEqual([1, 0.1, 0.01]);

    const bad = await loadExperiment(
      file,
      ['schedule.with.factor=1', 'train.phases.1.schedule.with.milestones=[0.5, 1.5]'],
      new PluginRegistry(),
    ).catch((e) => e);
    expect(bad.message.split('\n').slice(1)).toEqual([
      '--set schedule.with.factor=1: schedule.with.factor: expected a number > 1, got 1.',
      '--set train.phases.1.schedule.with.milestones=[0.5, 1.5]: train.phases.1.schedule.with.milestones.1: expected a number < 1, got 1.5.',
    ]);
  });
});
