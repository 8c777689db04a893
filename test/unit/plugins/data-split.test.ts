// Validation sets a scientist can trust: the random hold-out does not follow the experiment seed,
// a fixed validation set can be named (folder, solutions CSV, or a list of GalaxyIDs) without
// leaking into training, and valid_fraction 0 trains with no validation set.
import path from 'node:path';
import os from 'node:os';
import fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { newServiceContainer } from '../../../src/framework/services.js';
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { UserError } from '../../../src/base/errors.js';
import type { DataSplits } from '../../../src/framework/contracts.js';
import type { PluginContext } from '../../../src/framework/plugin.js';
import { loadExperiment } from '../../../src/framework/config/load.js';
import { createRegistry } from '../../../src/plugins/index.js';
import { readKaggleLayout, type KaggleLayoutOptions } from '../../../src/galaxy/kaggle-layout.js';
import { kaggleGalaxyZooData, type KaggleGalaxyZooOptions } from '../../../src/plugins/data/kaggle-galaxy-zoo.js';
import { syntheticData } from '../../../src/plugins/data/synthetic.js';
import { useTmpDir } from '../../helpers/tmp-dir.js';
import { FIXTURES } from '../../helpers/paths.js';

const fixtures = path.join(FIXTURES, 'data');
const small = path.join(fixtures, 'kaggle-small');
const ALL_IDS = ['100008', '100023', '100053', '100078', '100090', '100122', '100123', '100128', '100134', '100143'];
const tmpDir = useTmpDir('gzx-split-');

function options(over: Partial<KaggleLayoutOptions> = {}): KaggleLayoutOptions {
  return {
    dir: small,
    csv: 'training_solutions_rev1.csv',
    images: 'images_training_rev1',
    crop: 224,
    validFraction: 0.2,
    splitSeed: 0,
    valid: null,
    limit: 0,
    onBadImage: 'skip',
    ...over,
  };
}

function ctx(configDir: string, seed: number): PluginContext {
  return { tf, seed, runDir: os.tmpdir(), configDir, log: () => undefined, container: newServiceContainer() };
}

/** Options as a config gives them: the plugin's schema fills the defaults. */
function withDefaults(given: Record<string, unknown>): KaggleGalaxyZooOptions {
  const check = new Ajv2020({ useDefaults: true, strict: false }).compile(kaggleGalaxyZooData.optionsSchema);
  const filled = structuredClone(given);
  expect(check(filled), JSON.stringify(check.errors)).toBe(true);
  return filled as unknown as KaggleGalaxyZooOptions;
}

async function viaPlugin(given: Record<string, unknown>, seed: number, configDir = fixtures): Promise<DataSplits> {
  return (await kaggleGalaxyZooData.create(withDefaults(given), ctx(configDir, seed))).prepare();
}

const ids = (samples: { id: string }[]) => samples.map((s) => s.id);

async function userError(p: Promise<unknown>): Promise<UserError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  expect((e as Error).message).not.toContain('\n');
  return e as UserError;
}

/** Header and the rows of `keep` from the fixture CSV, ids renamed through `rename`. */
async function csvWith(keep: string[], rename: Record<string, string> = {}): Promise<string> {
  const lines = (await fsp.readFile(path.join(small, 'training_solutions_rev1.csv'), 'utf8')).trim().split('\n');
  const rows = lines.slice(1).filter((l) => keep.includes(l.split(',')[0]));
  return [lines[0], ...rows.map((l) => l.replace(/^[^,]+/, (id) => rename[id] ?? id))].join('\n') + '\n';
}

async function write(name: string, text: string): Promise<string> {
  const file = path.join(tmpDir(), name);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, text);
  return file;
}

describe('the random hold-out', () => {
  it('by default is the same whatever the experiment seed (split_seed 0), and says so', async () => {
    const a = await viaPlugin({ dir: 'kaggle-small' }, 3);
    const b = await viaPlugin({ dir: 'kaggle-small' }, 11);
    expect(ids(a.valid)).toHaveLength(2);
    expect(ids(b.valid)).toEqual(ids(a.valid));
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(ids(a.valid)).toEqual(ids((await readKaggleLayout(options({ splitSeed: 0 }))).valid));
    expect(a.split?.text).toBe('8 training and 2 validation galaxies, held out at random (valid_fraction 0.2, split_seed 0)');
    expect(a.split?.details).toEqual({ method: 'random', valid_fraction: 0.2, split_seed: 0, train: 8, valid: 2 });
  });

  it('an explicit split_seed chooses another split; null follows the experiment seed', async () => {
    const byDefault = await viaPlugin({ dir: 'kaggle-small' }, 3);
    let differing = 0;
    for (let s = 1; s <= 5; s++) {
      const x = await viaPlugin({ dir: 'kaggle-small', split_seed: s }, 3);
      expect(ids(x.valid)).toEqual(ids((await readKaggleLayout(options({ splitSeed: s }))).valid));
      expect(x.split?.details.split_seed).toBe(s);
      // The split is part of the data fingerprint: another validation set, another fingerprint.
      const same = ids(x.valid).join() === ids(byDefault.valid).join();
      expect(x.fingerprint === byDefault.fingerprint).toBe(same);
      if (!same) differing++;
    }
    expect(differing).toBeGreaterThan(0);
    const followsSeed = await viaPlugin({ dir: 'kaggle-small', split_seed: null }, 4);
    expect(ids(followsSeed.valid)).toEqual(ids((await viaPlugin({ dir: 'kaggle-small', split_seed: 4 }, 3)).valid));
  });

  it('valid_fraction 0 keeps every galaxy for training and says there is no validation set', async () => {
    const s = await viaPlugin({ dir: 'kaggle-small', valid_fraction: 0 }, 3);
    expect(s.train).toHaveLength(10);
    expect(s.valid).toHaveLength(0);
    expect(s.split?.text).toBe('10 training galaxies; no validation set (valid_fraction 0): no validation metrics');
  });

  it('one galaxy cannot be split: the message suggests valid_fraction 0, which now trains', async () => {
    const e = await userError(readKaggleLayout(options({ limit: 1, validFraction: 0.5 })));
    expect(e.message).toContain('data.with.valid_fraction: 0');
    expect((await readKaggleLayout(options({ limit: 1, validFraction: 0 }))).train).toHaveLength(1);
  });
});

describe('data.with.valid: a fixed validation set', () => {
  it('a text list of GalaxyIDs takes them out of the training CSV, in list order', async () => {
    await write('lists/held-out.txt', '# the galaxies we validate on\nGalaxyID\n100090\n\n100023  # spiral\n');
    const s = await viaPlugin({ dir: small, valid: 'lists/held-out.txt' }, 3, tmpDir());
    expect(ids(s.valid)).toEqual(['100090', '100023']);
    expect(ids(s.train)).toEqual(ALL_IDS.filter((id) => id !== '100090' && id !== '100023'));
    expect(s.valid[0].imagePath).toBe(path.join(small, 'images_training_rev1', '100090.jpg'));
    expect(s.valid[0].labels).toHaveLength(37);
    expect(s.split?.text).toBe(
      '8 training and 2 validation galaxies, the validation set fixed by held-out.txt (a list of GalaxyIDs), taken out of training_solutions_rev1.csv',
    );
    expect(s.split?.details).toMatchObject({ method: 'fixed', valid_form: 'ids', train: 8, valid: 2, removed_from_train: 2 });
    expect(s.split?.details.valid_set).toBe(path.join(tmpDir(), 'lists', 'held-out.txt'));
  });

  it('a YAML list and a one-column GalaxyID CSV are lists too; the same set gives the same fingerprint', async () => {
    const txt = await viaPlugin({ dir: small, valid: await write('same.txt', '100090\n100023\n') }, 3);
    const yaml = await viaPlugin({ dir: small, valid: await write('same.yaml', "- 100090\n- '100023'\n") }, 3);
    const csv = await viaPlugin({ dir: small, valid: await write('same.csv', 'GalaxyID\n100090\n100023\n') }, 3);
    for (const s of [yaml, csv]) {
      expect(ids(s.valid)).toEqual(ids(txt.valid));
      expect(ids(s.train)).toEqual(ids(txt.train));
      expect(s.fingerprint).toBe(txt.fingerprint);
    }
    const random = await viaPlugin({ dir: small }, 3);
    expect(random.fingerprint).not.toBe(txt.fingerprint);
  });

  it('a solutions CSV: its images are read from the training image folder; ids also in training are removed from it', async () => {
    const valid = await write('valid-solutions.csv', await csvWith(['100053', '100134', '100143']));
    const s = await viaPlugin({ dir: small, valid }, 3);
    expect(ids(s.valid)).toEqual(['100053', '100134', '100143']);
    expect(ids(s.train)).toEqual(ALL_IDS.filter((id) => !['100053', '100134', '100143'].includes(id)));
    expect(s.valid[2].imagePath).toBe(path.join(small, 'images_training_rev1', '100143.jpg'));
    expect(s.split?.text).toContain('3 of them were also in training_solutions_rev1.csv and were removed from training (no leak)');
    expect(s.split?.details.removed_from_train).toBe(3);
  });

  it('a folder in the Kaggle layout brings its own images; only the overlapping ids leave training', async () => {
    const folder = path.join(tmpDir(), 'valid-folder');
    await write('valid-folder/training_solutions_rev1.csv', await csvWith(['100008', '100122', '100128'], { '100128': '900001' }));
    await fsp.mkdir(path.join(folder, 'images_training_rev1'), { recursive: true });
    for (const [from, to] of [
      ['100008', '100008'],
      ['100122', '100122'],
      ['100128', '900001'],
    ]) {
      await fsp.copyFile(path.join(small, 'images_training_rev1', `${from}.jpg`), path.join(folder, 'images_training_rev1', `${to}.jpg`));
    }
    const s = await viaPlugin({ dir: small, valid: 'valid-folder' }, 3, tmpDir());
    expect(ids(s.valid)).toEqual(['100008', '100122', '900001']);
    expect(s.valid[2].imagePath).toBe(path.join(folder, 'images_training_rev1', '900001.jpg'));
    expect(ids(s.train)).toEqual(ALL_IDS.filter((id) => id !== '100008' && id !== '100122'));
    expect(s.split?.text).toBe(
      '8 training and 3 validation galaxies, the validation set fixed by valid-folder (a folder in the Kaggle layout); ' +
        '2 of them were also in training_solutions_rev1.csv and were removed from training (no leak)',
    );
    // limit cuts the training rows only: the validation set stays whole.
    const limited = await viaPlugin({ dir: small, valid: 'valid-folder', limit: 4 }, 3, tmpDir());
    expect(ids(limited.train)).toEqual(['100023', '100053', '100078', '100090']);
    expect(limited.valid).toHaveLength(3);
  });

  it('works for the synthetic source as well (shared options)', async () => {
    await write('synth-valid.txt', '100003\n100005\n');
    const opts = {
      dir: 'synth',
      count: 12,
      size: 48,
      seed: 2,
      crop: 'auto' as const,
      valid: 'synth-valid.txt',
      valid_fraction: null,
      split_seed: 0,
      limit: 0,
      on_bad_image: 'fail' as const,
    };
    const s = await (await syntheticData.create(opts, ctx(tmpDir(), 9))).prepare();
    expect(s.valid).toHaveLength(2);
    expect(s.train).toHaveLength(10);
    expect(new Set([...ids(s.train), ...ids(s.valid)]).size).toBe(12);
    expect(s.valid[0].imagePath).toBe(path.join(tmpDir(), 'synth', 'images_training_rev1', `${s.valid[0].id}.jpg`));
  });
});

describe('data.with.valid: mistakes are one line naming the file, the row and the fix', () => {
  it('unknown GalaxyIDs in a list name the file, the ids with their lines, and what to do', async () => {
    const file = await write('unknown.txt', '100023\n999999\n100090\n123\n');
    const e = await userError(viaPlugin({ dir: small, valid: file }, 3));
    expect(e.message).toBe(
      `data.with.valid: 2 of 4 GalaxyIDs in ${file} are not in ${path.join(small, 'training_solutions_rev1.csv')}: 999999 (line 2), 123 (line 4). ` +
        'A list names galaxies of the training CSV to validate on; remove those ids, or give a solutions CSV or a folder with their labels and images instead.',
    );
  });

  it('a YAML list with an unknown id names its line', async () => {
    const file = await write('unknown.yaml', '- 100023\n- 424242\n');
    expect((await userError(viaPlugin({ dir: small, valid: file }, 3))).message).toContain('424242 (line 2)');
  });

  it('a duplicate id, a line with two ids, an empty list and a YAML map are errors with their line', async () => {
    expect((await userError(viaPlugin({ dir: small, valid: await write('dup.txt', '100023\n100090\n100023\n') }, 3))).message).toContain(
      'line 3: GalaxyID 100023 is listed again (first on line 1)',
    );
    expect((await userError(viaPlugin({ dir: small, valid: await write('two.txt', '100023, 100090\n') }, 3))).message).toContain(
      'line 1: "100023, 100090" is not one GalaxyID',
    );
    expect((await userError(viaPlugin({ dir: small, valid: await write('empty.txt', '# none yet\n') }, 3))).message).toContain('lists no GalaxyIDs');
    expect((await userError(viaPlugin({ dir: small, valid: await write('map.yaml', 'ids: [1, 2]\n') }, 3))).message).toContain('is not a YAML list');
  });

  it('a missing path, a validation CSV whose images are elsewhere, and a set that takes every galaxy', async () => {
    const absent = path.join(tmpDir(), 'nope.txt');
    const e1 = await userError(viaPlugin({ dir: small, valid: absent }, 3));
    expect(e1.message).toContain(`data.with.valid: ${absent} does not exist`);
    const foreign = await write('foreign.csv', await csvWith(['100023'], { '100023': '777777' }));
    const e2 = await userError(viaPlugin({ dir: small, valid: foreign }, 3));
    expect(e2.message).toContain(`1 of 1 images listed in ${foreign} are missing from ${path.join(small, 'images_training_rev1')}: 777777.jpg`);
    expect(e2.message).toContain('give a folder in the Kaggle layout as data.with.valid');
    const everything = await write('everything.txt', ALL_IDS.join('\n'));
    expect((await userError(viaPlugin({ dir: small, valid: everything }, 3))).message).toContain('nothing is left to train on');
  });

  it('gzx validate rejects valid together with valid_fraction, at the key, with the fix', async () => {
    const dir = await fsp.mkdtemp(path.join(tmpDir(), 'cfg-'));
    const file = path.join(dir, 'both.yaml');
    await fsp.writeFile(file, 'name: both\ndata:\n  use: synthetic\n  with:\n    valid: held-out.txt\n    valid_fraction: 0.1\n');
    const err = await userError(loadExperiment(file, [], createRegistry()));
    expect(err.message).toMatch(
      /both\.yaml:6:21: data\.with\.valid_fraction: no valid_fraction when valid names a validation set \(that set replaces the random hold-out\); remove one of the two; got 0\.1\.$/,
    );
    // Either one alone is fine, and the resolved config (what a run saves and resumes from) validates again.
    await fsp.writeFile(file, 'name: both\ndata:\n  use: synthetic\n  with:\n    valid: held-out.txt\n');
    const resolved = await loadExperiment(file, [], createRegistry());
    expect(resolved.config.data.with).toMatchObject({ valid: 'held-out.txt', valid_fraction: null, split_seed: 0 });
    await fsp.writeFile(file, resolved.yaml);
    await loadExperiment(file, [], createRegistry());
    await loadExperiment(file, ['data.with.valid=null', 'data.with.valid_fraction=0'], createRegistry());
  });
});
