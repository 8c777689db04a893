// The config loader: extends, --set, defaults, phase filling and plugin loading.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadExperiment, configHash } from '../../../../src/framework/config/load.js';
import { PluginRegistry } from '../../../../src/framework/registry.js';
import { createRegistry } from '../../../../src/cli/registry.js';
import { UserError } from '../../../../src/base/errors.js';
import { FIXTURES, FIXTURE_PLUGINS, writeFixtureConfig } from '../../../helpers/fixture-config.js';
import { REPO } from '../../../helpers/paths.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-config-'));
const writeConfig = (name: string, body: string) => writeFixtureConfig(tmp, name, body);

describe('extends', () => {
  it('follows a three-level chain: maps deep-merge, lists are replaced', async () => {
    const { config } = await loadExperiment(path.join(FIXTURES, 'extends/sub/child.yaml'), [], new PluginRegistry());
    expect(config.name).toBe('mid'); // from mid.yaml, over base.yaml
    expect(config.train.lr).toBe(0.01); // mid
    expect(config.train.batch_size).toBe(16); // base
    expect(config.train.optimizer).toMatchObject({ name: 'sgd', wd: 0.05 }); // base name, child wd
    expect(config.data.with).toEqual({ root: './images', count: 7, valid_fraction: 0.2 });
    // Lists replace: base had two augmentations and two phases.
    expect(config.augment).toEqual([{ use: 'fixture-flip', with: { p: 0.5 } }]);
    expect(config.train.phases.map((p) => p.epochs)).toEqual([5]);
  });

  it('keeps plugin paths from a base file working by rewriting them relative to the config', async () => {
    const r = await loadExperiment(path.join(FIXTURES, 'extends/sub/child.yaml'), [], new PluginRegistry());
    expect(r.config.plugins).toEqual(['../../fixture-plugins.js']);
    expect(path.resolve(r.configDir, r.config.plugins[0])).toBe(FIXTURE_PLUGINS);
    expect(r.configPath).toBe(path.join(FIXTURES, 'extends/sub/child.yaml'));
    expect(r.configDir).toBe(path.join(FIXTURES, 'extends/sub'));
  });
});

describe('YAML features', () => {
  it('anchors and merge keys work, and errors in merged maps still have a line', async () => {
    const file = writeConfig(
      'merge.yaml',
      'train:\n  phases:\n    - &frozen {epochs: 1, freeze: backbone, lr: 0.01}\n    - {<<: *frozen, epochs: 2}\n',
    );
    const { config } = await loadExperiment(file, [], new PluginRegistry());
    expect(config.train.phases.map((p) => [p.epochs, p.freeze, p.lr])).toEqual([
      [1, 'backbone', 0.01],
      [2, 'backbone', 0.01],
    ]);
    const err = await loadExperiment(file, ['train.phases.0.freeze=all'], new PluginRegistry()).catch((e) => e);
    expect(err.message).toContain('train.phases.0.freeze: expected one of "backbone", "none"; got "all".');
  });
});

describe('plugin references', () => {
  it('an empty `with:` (options commented out) means no options, not an error', async () => {
    const file = writeConfig('empty-with.yaml', 'augment:\n  - use: fixture-flip\n    with:\n    # p: 0.9\n');
    const { config } = await loadExperiment(file, [], new PluginRegistry());
    expect(config.augment).toEqual([{ use: 'fixture-flip', with: { p: 0.5 } }]);
  });
});

describe('changing a plugin, deleting a key (Hydra: groups replace, ~key deletes)', () => {
  const quickstart = path.resolve(REPO, 'configs', 'quickstart.yaml');
  const child = (name: string, body: string) => {
    const file = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(file, `extends: ${quickstart}\n${body}`);
    return file;
  };

  it("a child that changes `use:` replaces the block: the parent plugin's `with:` does not follow", async () => {
    const { config } = await loadExperiment(child('resnet-child', 'backbone: {use: resnet}\n'), [], createRegistry());
    expect(config.backbone.use).toBe('resnet');
    expect(config.backbone.with).not.toHaveProperty('channels');
    expect(config.backbone.with).toMatchObject({ depth: 50 });
    // The same plugin still merges key by key.
    const same = await loadExperiment(child('cnn-child', 'backbone: {use: simple-cnn, with: {convs_per_block: 1}}\n'), [], createRegistry());
    expect(same.config.backbone.with).toMatchObject({ channels: [16, 32, 64, 128], convs_per_block: 1 });
  });

  it("--set block.use=… replaces the block's with:, later --set keys fill the new one", async () => {
    const { config } = await loadExperiment(quickstart, ['backbone.use=resnet', 'backbone.with.depth=18'], createRegistry());
    expect(config.backbone).toMatchObject({ use: 'resnet', with: { depth: 18 } });
    expect(config.backbone.with).not.toHaveProperty('channels');
    const same = await loadExperiment(quickstart, ['backbone.use=simple-cnn'], createRegistry());
    expect(same.config.backbone.with).toMatchObject({ channels: [16, 32, 64, 128] });
  });

  it('~key deletes an inherited key, in a child file or with --set ~key.path', async () => {
    const file = child('delete-child', 'head:\n  with: {~hidden: null}\ntrain: {~lr: }\n');
    const { config } = await loadExperiment(file, [], createRegistry());
    expect(config.head.with).toMatchObject({ ps: 0.1, hidden: 512 }); // back to the plugin's default
    expect(config.train.lr).toBe(0.001); // the schema default, not quickstart's 0.003
    const viaSet = await loadExperiment(quickstart, ['~head.with.hidden'], createRegistry());
    expect(viaSet.config.head.with).toMatchObject({ hidden: 512 });
  });

  it('a ~key that deletes nothing, or --set ~ of a missing key, names the place and what exists', async () => {
    const err = await loadExperiment(child('bad-delete', 'head:\n  with: {~hiden: null}\n'), [], createRegistry()).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/bad-delete\.yaml:3:\d+: ~hiden: there is no inherited key "hiden" to delete here \(inherited: ps, hidden\)/);
    const own = path.join(tmp, 'no-base.yaml');
    fs.writeFileSync(own, 'name: x\n~seed: null\n');
    const err2 = await loadExperiment(own, [], createRegistry()).catch((e) => e);
    expect(err2.message).toMatch(/no-base\.yaml:2:1: ~seed: "~seed" deletes an inherited key, but nothing is inherited here/);
    const err3 = await loadExperiment(quickstart, ['~train.nope'], createRegistry()).catch((e) => e);
    expect(err3.message).toMatch(/--set ~train.nope: train has no "nope" to delete \(it has: .*batch_size/);
    expect(err3.exitCode).toBe(2);
  });
});

describe('--set', () => {
  const base = path.join(FIXTURES, 'extends/sub/child.yaml');

  it('applies after extends, parses values as YAML and indexes lists by number', async () => {
    const { config } = await loadExperiment(
      base,
      ['train.phases.0.lr=1e-4', 'name=tuned', 'train.cache_images=true', 'augment=[{use: fixture-flip, with: {p: 1}}]', 'train.optimizer.wd=0'],
      new PluginRegistry(),
    );
    expect(config.train.phases[0].lr).toBe(1e-4);
    expect(config.name).toBe('tuned');
    expect(config.train.cache_images).toBe(true);
    expect(config.augment).toEqual([{ use: 'fixture-flip', with: { p: 1 } }]);
    expect(config.train.optimizer.wd).toBe(0);
  });

  it('appends a list item at index = length and creates missing maps', async () => {
    const { config } = await loadExperiment(
      base,
      ['train.phases.1.epochs=3', 'train.phases.1.freeze=backbone', 'head.with.ps=0.1'],
      new PluginRegistry(),
    );
    expect(config.train.phases.map((p) => [p.epochs, p.freeze])).toEqual([
      [5, 'none'],
      [3, 'backbone'],
    ]);
    expect(config.head.with).toEqual({ ps: 0.1 });
  });

  it('types values the way YAML does: quoted numbers stay strings, "=" may appear in values', async () => {
    const ok = await loadExperiment(base, ['name="42"', 'seed=7', 'description=a=b', 'train.phases.0.lr=[1.0e-5, 1.0e-3]'], new PluginRegistry());
    expect(ok.config.name).toBe('42');
    expect(ok.config.seed).toBe(7);
    expect(ok.config.description).toBe('a=b');
    expect(ok.config.train.phases[0].lr).toEqual([1e-5, 1e-3]);
  });
});

describe('defaults and phases', () => {
  it('fills every documented default with the built-in plugins', async () => {
    const file = path.join(tmp, 'minimal.yaml');
    fs.writeFileSync(file, `plugins: [${JSON.stringify(FIXTURE_PLUGINS)}]\ndata: {use: fixture-data, with: {root: x}}\n`);
    const { config } = await loadExperiment(file, [], createRegistry());
    expect(config).toMatchObject({
      name: 'experiment',
      description: '',
      seed: 42,
      output_dir: 'runs',
      backend: 'auto',
      augment: [],
      backbone: { use: 'simple-cnn' },
      head: { use: 'galaxy-zoo' },
      schedule: { use: 'one-cycle' },
      logger: [{ use: 'console' }],
      train: {
        batch_size: 32,
        valid_batch_size: 64,
        size: 64,
        lr: 0.001,
        optimizer: { name: 'adam', wd: 0, beta1: 0.9, beta2: 0.99, eps: 1e-5, momentum: 0.9, nesterov: true },
        accumulate: 1,
        compile: true,
        workers: 'auto',
        cache_images: 'auto',
        max_steps_per_epoch: 0,
      },
    });
    // The built-ins' own option defaults are filled too.
    expect(Object.keys(config.backbone.with).length).toBeGreaterThan(0);
    expect(config.train.phases).toEqual([{ epochs: 1, size: 64, freeze: 'none', lr: 0.001, batch_size: 32, schedule: config.schedule }]);
  });

  it('completes each phase from train and the top-level schedule, keeping explicit values', async () => {
    const file = writeConfig(
      'phases.yaml',
      'train:\n  size: 80\n  lr: 0.002\n  batch_size: 8\n  phases:\n' +
        '    - {epochs: 1, freeze: backbone}\n' +
        '    - {epochs: 2, size: 128, lr: [1.0e-5, 1.0e-3], batch_size: 4, schedule: {use: fixture-flat, with: {warmup: 0.1}}}\n',
    );
    const { config } = await loadExperiment(file, [], new PluginRegistry());
    expect(config.train.phases[0]).toEqual({
      epochs: 1,
      freeze: 'backbone',
      size: 80,
      lr: 0.002,
      batch_size: 8,
      schedule: { use: 'fixture-flat', with: { warmup: 0 } },
    });
    expect(config.train.phases[1]).toMatchObject({ size: 128, lr: [1e-5, 1e-3], batch_size: 4, schedule: { with: { warmup: 0.1 } } });
  });

  it('prints YAML that reads back to the same config, and hashes it stably', async () => {
    const file = path.join(FIXTURES, 'valid.yaml');
    const a = await loadExperiment(file, [], new PluginRegistry());
    expect(parseYaml(a.yaml)).toEqual(a.config);
    expect(a.yaml).toContain('lr: [0.00001, 0.001]'); // short lists stay on one line
    expect(a.yaml.indexOf('name:')).toBeLessThan(a.yaml.indexOf('train:')); // schema order, not default-insertion order
    expect(a.hash).toMatch(/^[0-9a-f]{12}$/);
    const b = await loadExperiment(file, [], new PluginRegistry());
    expect(b.hash).toBe(a.hash);
    const c = await loadExperiment(file, ['seed=1'], new PluginRegistry());
    expect(c.hash).not.toBe(a.hash);
    // Key order does not change the hash.
    expect(configHash({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(configHash({ b: [1, { d: 3, c: 2 }], a: 1 }));
  });

  it('tells where a value came from, for errors found later by the run', async () => {
    const r = await loadExperiment(path.join(FIXTURES, 'extends/sub/child.yaml'), ['seed=3'], new PluginRegistry());
    expect(r.where('data.with.count')).toBe(`${path.relative(process.cwd(), path.join(FIXTURES, 'extends/sub/child.yaml'))}:3:22`);
    expect(r.where('data.with.root')).toMatch(/extends\/base\.yaml:3:/);
    expect(r.where('seed')).toBe('--set seed=3');
  });
});

describe('baseDir (resume from a saved config.yaml)', () => {
  it('resolves plugins: against baseDir instead of the folder of the file read', async () => {
    const first = await loadExperiment(path.join(FIXTURES, 'valid.yaml'), [], new PluginRegistry());
    const saved = path.join(tmp, 'saved-run', 'config.yaml');
    fs.mkdirSync(path.dirname(saved), { recursive: true });
    fs.writeFileSync(saved, first.yaml);
    // Read from the run folder, ./fixture-plugins.js would not exist there.
    const notThere = await loadExperiment(saved, [], new PluginRegistry()).catch((e) => e);
    expect(notThere.message).toContain('cannot load plugin module "./fixture-plugins.js"');
    const again = await loadExperiment(saved, [], new PluginRegistry(), { baseDir: FIXTURES });
    expect(again.configDir).toBe(FIXTURES);
    expect(again.configPath).toBe(saved);
    expect(again.config).toEqual(first.config);
    expect(again.hash).toBe(first.hash);
  });
});

describe('plugins: in a config', () => {
  it('registers the modules before validation so their schemas take part', async () => {
    const registry = new PluginRegistry();
    expect(registry.has('data', 'fixture-data')).toBe(false);
    await loadExperiment(path.join(FIXTURES, 'valid.yaml'), [], registry);
    expect(registry.has('data', 'fixture-data')).toBe(true);
  });

  it('reports a module that cannot be loaded with its location', async () => {
    const file = writeConfig('bad-module.yaml', '');
    fs.appendFileSync(file, 'description: x\n');
    const text = fs.readFileSync(file, 'utf8').replace('plugins: [', 'plugins: [./nope.js, ');
    fs.writeFileSync(file, text);
    const err = await loadExperiment(file, [], new PluginRegistry()).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/^\S*bad-module\.yaml:1:\d+: plugins\.0: cannot load plugin module "\.\/nope\.js" \(.*nope\.js\): .*Fix the path/);
    // Its plugins are then not also reported one by one as "not registered".
    expect(err.message).not.toContain('not registered');
  });
});

describe('docs/config.md', () => {
  it('documents every key of the experiment schema with its default', async () => {
    const { loadExperimentSchema } = await import('../../../../src/framework/config/load.js');
    const schema = loadExperimentSchema() as any;
    const docs = fs.readFileSync(path.join(REPO, 'docs/config.md'), 'utf8');
    // Each schema object has its own section (heading) in the docs.
    const sections: [string, Record<string, any>][] = [
      ['## Top-level keys', schema.properties],
      ['## `train`', schema.$defs.train.properties],
      ['### `train.optimizer`', schema.$defs.optimizer.properties],
      ['### `train.phases[]`', schema.$defs.phase.properties],
    ];
    const sectionText = (heading: string) => {
      const start = docs.indexOf(`\n${heading}\n`);
      expect(start, heading).toBeGreaterThan(0);
      const next = docs.slice(start + heading.length + 2).search(/\n#{1,3} /);
      return docs.slice(start, next < 0 ? undefined : start + heading.length + 2 + next);
    };
    const missing: string[] = [];
    for (const [heading, props] of sections) {
      const rows = sectionText(heading).split('\n');
      for (const [key, prop] of Object.entries(props)) {
        const row = rows.find((l) => l.startsWith(`| \`${key}\``));
        if (!row) {
          missing.push(`${heading}: ${key}`);
          continue;
        }
        if (prop.default === undefined || typeof prop.default === 'object') continue;
        // The default appears in the row as a `code` token (numbers compared as numbers: 1e-5 = 0.00001).
        const tokens = [...row.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
        const shown = tokens.some((t) =>
          typeof prop.default === 'number' ? Number(t) === prop.default : t === (prop.default === '' ? '""' : String(prop.default)),
        );
        if (!shown) missing.push(`${heading}: ${key} default ${JSON.stringify(prop.default)}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
