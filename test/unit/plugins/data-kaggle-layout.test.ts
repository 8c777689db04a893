import path from 'node:path';
import os from 'node:os';
import fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { newServiceContainer } from '../../../src/framework/services.js';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../../src/base/errors.js';
import type { PluginContext } from '../../../src/framework/plugin.js';
import { readKaggleLayout, splitIndices, type KaggleLayoutOptions } from '../../../src/galaxy/kaggle-layout.js';
import { kaggleGalaxyZooData } from '../../../src/plugins/data/kaggle-galaxy-zoo.js';
import { builtinPlugins } from '../../../src/plugins/index.js';
import { FIXTURES } from '../../helpers/paths.js';

const fixtures = path.join(FIXTURES, 'data');

function options(dir: string, over: Partial<KaggleLayoutOptions> = {}): KaggleLayoutOptions {
  return {
    dir: path.join(fixtures, dir),
    csv: 'training_solutions_rev1.csv',
    images: 'images_training_rev1',
    crop: 224,
    validFraction: 0.2,
    splitSeed: 1,
    valid: null,
    limit: 0,
    onBadImage: 'skip',
    ...over,
  };
}

async function userError(p: Promise<unknown>): Promise<UserError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  return e as UserError;
}

function ctx(configDir: string, seed = 5): PluginContext {
  return { tf, seed, runDir: os.tmpdir(), configDir, log: () => undefined, container: newServiceContainer() };
}

describe('readKaggleLayout', () => {
  it('reads ids, labels and image paths and splits 8/2 disjointly covering every galaxy', async () => {
    const s = await readKaggleLayout(options('kaggle-small'));
    expect(s.train).toHaveLength(8);
    expect(s.valid).toHaveLength(2);
    const ids = [...s.train, ...s.valid].map((x) => x.id);
    expect(new Set(ids).size).toBe(10);
    expect(ids).toContain('100008');
    const first = [...s.train, ...s.valid].find((x) => x.id === '100008')!;
    expect(first.imagePath).toBe(path.join(fixtures, 'kaggle-small', 'images_training_rev1', '100008.jpg'));
    expect(first.labels).toHaveLength(37);
    expect(first.labels![0] + first.labels![1] + first.labels![2]).toBeCloseTo(1, 5);
    expect(s.crop).toBe(224);
    expect(s.badImagePolicy).toBe('skip');
    expect(s.fingerprint).toMatch(/^[0-9a-f]{12}$/);
  });

  it('gives the same split and fingerprint for the same seed, another split for another seed', async () => {
    const a = await readKaggleLayout(options('kaggle-small'));
    const b = await readKaggleLayout(options('kaggle-small'));
    expect(b.valid.map((x) => x.id)).toEqual(a.valid.map((x) => x.id));
    expect(b.fingerprint).toBe(a.fingerprint);
    const validSets = new Set<string>();
    for (let seed = 0; seed < 6; seed++) {
      const s = await readKaggleLayout(options('kaggle-small', { splitSeed: seed }));
      validSets.add(s.valid.map((x) => x.id).join());
    }
    expect(validSets.size).toBeGreaterThan(1);
    const c = await readKaggleLayout(options('kaggle-small', { splitSeed: 2 }));
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it('limit keeps the first N rows of the CSV before splitting', async () => {
    const s = await readKaggleLayout(options('kaggle-small', { limit: 5 }));
    const ids = [...s.train, ...s.valid].map((x) => x.id).sort();
    expect(ids).toEqual(['100008', '100023', '100053', '100078', '100090']);
    expect(s.valid).toHaveLength(1);
  });

  it('crop 0 or null means no crop; on_bad_image is passed on', async () => {
    expect((await readKaggleLayout(options('kaggle-small', { crop: 0 }))).crop).toBeNull();
    expect((await readKaggleLayout(options('kaggle-small', { crop: null, onBadImage: 'fail' }))).badImagePolicy).toBe('fail');
  });

  it('a bad header is one UserError naming the file and the column', async () => {
    const e = await userError(readKaggleLayout(options('bad-header')));
    expect(e.message).toContain(path.join(fixtures, 'bad-header', 'training_solutions_rev1.csv'));
    expect(e.message).toContain('Class7.Two');
  });

  it('a bad row is one UserError naming the file, the row and the column', async () => {
    const e = await userError(readKaggleLayout(options('bad-row')));
    expect(e.message).toContain('bad-row');
    expect(e.message).toMatch(/row 3/);
    expect(e.message).toContain('Class3.1');
    expect(e.message).toContain('abc');
  });

  it('missing images are counted in one UserError that names the first few and the fix', async () => {
    const e = await userError(readKaggleLayout(options('missing-images')));
    expect(e.message).toContain('7 of 8 images');
    expect(e.message).toContain('100023.jpg');
    expect(e.message).toContain('and 2 more');
    expect(e.message).not.toContain('100128.jpg'); // the 8th: only counted
    expect(e.message).toMatch(/Copy the missing images/);
  });

  it('a missing folder, CSV or image folder is a UserError naming the path', async () => {
    expect((await userError(readKaggleLayout(options('no-such-dir')))).message).toContain('no-such-dir');
    expect((await userError(readKaggleLayout(options('kaggle-small', { csv: 'nope.csv' })))).message).toContain('nope.csv');
    expect((await userError(readKaggleLayout(options('kaggle-small', { images: 'pics' })))).message).toContain('pics');
  });
});

describe('splitIndices', () => {
  it('is disjoint, complete, sized round(n·fraction) and keeps file order', () => {
    const { train, valid } = splitIndices(1000, 0.2, 42);
    expect(valid).toHaveLength(200);
    expect(new Set([...train, ...valid]).size).toBe(1000);
    expect([...train].sort((a, b) => a - b)).toEqual(train);
    // Not simply the last or first rows.
    expect(valid.some((i) => i < 500) && valid.some((i) => i >= 500)).toBe(true);
  });
  it('fraction 0 gives no valid rows; a tiny set still gets one valid row', () => {
    expect(splitIndices(10, 0, 1).valid).toHaveLength(0);
    expect(splitIndices(3, 0.05, 1).valid).toHaveLength(1);
  });
});

describe('kaggle-galaxy-zoo plugin', () => {
  it('is registered as a data plugin', () => {
    expect(builtinPlugins.some((p) => p.kind === 'data' && p.name === 'kaggle-galaxy-zoo')).toBe(true);
    expect(builtinPlugins.some((p) => p.kind === 'data' && p.name === 'synthetic')).toBe(true);
  });

  it('resolves a relative dir against the config folder; split_seed null means the experiment seed', async () => {
    const source = await kaggleGalaxyZooData.create(
      {
        dir: 'kaggle-small',
        csv: 'training_solutions_rev1.csv',
        images: 'images_training_rev1',
        crop: 224,
        valid: null,
        valid_fraction: 0.2,
        split_seed: null,
        limit: 0,
        on_bad_image: 'skip',
      },
      ctx(fixtures, 3),
    );
    const viaPlugin = await source.prepare();
    const direct = await readKaggleLayout(options('kaggle-small', { splitSeed: 3 }));
    expect(viaPlugin.valid.map((x) => x.id)).toEqual(direct.valid.map((x) => x.id));
    expect(source.describe()).toContain(path.join(fixtures, 'kaggle-small'));
  });

  it('its schema requires dir and rejects unknown keys', async () => {
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const ajv = new Ajv2020({ useDefaults: true, strict: false });
    const check = ajv.compile(kaggleGalaxyZooData.optionsSchema);
    expect(check({})).toBe(false);
    expect(check({ dir: 'x', colour: 1 })).toBe(false);
    const filled: Record<string, unknown> = { dir: 'x' };
    expect(check(filled)).toBe(true);
    expect(filled).toMatchObject({ crop: 224, valid: null, valid_fraction: null, limit: 0, on_bad_image: 'skip', split_seed: 0 });
  });

  it('reports a missing data folder with the fix', async () => {
    const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'gzx-kaggle-'));
    const source = await kaggleGalaxyZooData.create({ dir: 'absent' } as never, ctx(tmp));
    const e = await userError(source.prepare());
    expect(e.message).toContain(path.join(tmp, 'absent'));
    expect(e.message).toContain('gzx data synth');
  });
});
