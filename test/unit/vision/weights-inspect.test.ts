// `gzx weights`: describing a weights file and checking it against a config's backbone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../../src/framework/config/load.js';
import { UserError } from '../../../src/base/errors.js';
import { checkBackboneWeights, describeWeightSource } from '../../../src/vision/weights/inspect.js';
import { createRegistry } from '../../../src/cli/registry.js';
import { REPO } from '../../helpers/paths.js';

const ROOT = REPO;
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'weights');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-weights-inspect-'));
afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await tf.setBackend('cpu');
});

/** A config next to the fixtures' folder, so `pretrained` is relative to it as a user would write it. */
function writeConfig(backbone: string): string {
  const file = path.join(tmp, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, `extends: ${path.join(ROOT, 'configs', 'resnet50-smoke.yaml')}\nname: inspect\nbackend: cpu\nbackbone: ${backbone}\n`);
  return file;
}

describe('describeWeightSource', () => {
  it('lists layers with variable names and shapes, truncated unless asked for all', async () => {
    const file = path.join(FIXTURES, 'resnet50-subset-w0125.h5');
    const lines = await describeWeightSource(file, 2);
    expect(lines[0]).toBe(`${file}: Keras .h5, 7 layers with weights, 2,315 values`);
    expect(lines[1]).toBe('  conv1_conv: kernel [7,7,3,8], bias [8]');
    expect(lines[2]).toBe('  conv1_bn: gamma [8], beta [8], moving_mean [8], moving_variance [8]');
    expect(lines[3]).toBe('  … (5 more; --all lists every layer)');
    const all = await describeWeightSource(file, Number.POSITIVE_INFINITY);
    expect(all).toHaveLength(8);
    expect(all[7]).toBe('  extra_dense: kernel [9,5], bias [5]');
  });
});

describe('checkBackboneWeights', () => {
  it("loads the config's pretrained file into its backbone and reports every layer loaded", async () => {
    const rel = path.relative(tmp, path.join(FIXTURES, 'mini-resnet50-w003125.h5'));
    const cfg = writeConfig(`{use: resnet, with: {depth: 50, width: 0.03125, pretrained: ${rel}}}`);
    const registry = createRegistry();
    const lines: string[] = [];
    await checkBackboneWeights(await loadExperiment(cfg, [], registry), registry, undefined, (l) => lines.push(l));
    expect(lines).toEqual([
      `pretrained weights (Keras .h5) ${path.join(FIXTURES, 'mini-resnet50-w003125.h5')}: 106 layers loaded, 0 skipped, 0 in file unused`,
    ]);
  });

  it('a file for another width is an error after the report shows the shape mismatches', async () => {
    const cfg = writeConfig('{use: resnet, with: {depth: 50, width: 0.0625, pretrained: null}}');
    const registry = createRegistry();
    const lines: string[] = [];
    const file = path.join(FIXTURES, 'mini-resnet50-w003125.h5');
    const err = await checkBackboneWeights(await loadExperiment(cfg, [], registry), registry, file, (l) => lines.push(l))
      .then(() => null)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('no layer of the resnet50 backbone');
    expect(lines[0]).toContain(`${file}: 0 layers loaded, 106 skipped`);
    expect(lines[1]).toContain('conv1_conv (shape mismatch: model [7,7,3,4] [4] vs file [7,7,3,2] [2])');
    expect(lines[1]).toContain('… (98 more)');
  });

  it('checks a 2017-layout ResNet50 file as the run would load it (names mapped)', async () => {
    const cfg = writeConfig('{use: resnet, with: {depth: 50, width: 0.125, pretrained: null}}');
    const registry = createRegistry();
    const lines: string[] = [];
    const file = path.join(FIXTURES, 'resnet50-2017names-subset-w0125.h5');
    await checkBackboneWeights(await loadExperiment(cfg, [], registry), registry, file, (l) => lines.push(l));
    expect(lines[0]).toContain('2017 ResNet50 layer names (res2a_branch2a…) mapped');
    expect(lines[0]).toContain('9 layers loaded');
  });

  it('without a file and without backbone.with.pretrained, says where to set it', async () => {
    const cfg = writeConfig('{use: resnet, with: {depth: 18, width: 0.25, pretrained: null}}');
    const registry = createRegistry();
    const err = await checkBackboneWeights(await loadExperiment(cfg, [], registry), registry, undefined, () => {})
      .then(() => null)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('backbone.with.pretrained is not set');
    expect((err as Error).message).toContain('gzx weights <file> --config');
  });
});
