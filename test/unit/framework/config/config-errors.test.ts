// Every kind of config mistake: one UserError, each problem as `<file>:<line>:<col>: <key.path>: <expected>`.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadExperiment } from '../../../../src/framework/config/load.js';
import { PluginRegistry } from '../../../../src/framework/registry.js';
import { UserError } from '../../../../src/base/errors.js';
import { FIXTURES, FIXTURE_PLUGINS, writeFixtureConfig } from '../../../helpers/fixture-config.js';
import { displayPath } from '../../../../src/framework/config/origins.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-config-errors-'));
const writeConfig = (name: string, body: string) => writeFixtureConfig(tmp, name, body);

// Paths inside the working directory are shown relative to it, others absolute.
const shown = displayPath;

async function failure(file: string, sets: string[] = []): Promise<UserError> {
  const err = await loadExperiment(file, sets, new PluginRegistry()).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the config should have been rejected').toBeInstanceOf(UserError);
  return err as UserError;
}

describe('schema errors', () => {
  it('unknown top-level key: position of the key and did-you-mean', async () => {
    const file = writeConfig('top.yaml', 'seed: 1\nnmae: quick\n');
    const err = await failure(file);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(
      `${shown(file)}:8:1: nmae: unknown key; allowed here: name, description, seed, plugins, output_dir, backend, threads, ` +
        'data, augment, backbone, head, schedule, logger, callbacks, sweep, train. Did you mean "name"?',
    );
  });

  it('unknown nested key', async () => {
    const file = writeConfig('nested.yaml', 'train:\n  lr: 0.01\n  optimzer: {name: sgd}\n');
    const err = await failure(file);
    expect(err.message).toMatch(new RegExp(`^${shown(file)}:9:3: train\\.optimzer: unknown key; .*Did you mean "optimizer"\\?$`));
  });

  it('wrong type, naming what was expected and what was found', async () => {
    const file = writeConfig('type.yaml', 'train:\n  batch_size: big\n');
    expect((await failure(file)).message).toBe(`${shown(file)}:8:15: train.batch_size: expected an integer, got "big".`);
  });

  it('value out of range, inside a list of phases', async () => {
    const file = writeConfig('range.yaml', 'train:\n  phases:\n    - epochs: 0\n    - {epochs: 1, dropout: 1.5}\n');
    const err = await failure(file);
    expect(err.message.split('\n')).toEqual([
      `2 problems in ${shown(file)}:`,
      `${shown(file)}:9:15: train.phases.0.epochs: expected an integer >= 1, got 0.`,
      `${shown(file)}:10:28: train.phases.1.dropout: expected a number < 1, got 1.5.`,
    ]);
  });

  it('enum with did-you-mean, and a learning rate that is neither a number nor [low, high]', async () => {
    const file = writeConfig('enum.yaml', 'backend: wasn\ntrain:\n  phases: [{epochs: 1, lr: fast}]\n');
    const lines = (await failure(file)).message.split('\n');
    expect(lines[1]).toBe(`${shown(file)}:7:10: backend: expected one of "auto", "tensorflow", "wasm", "cpu"; got "wasn". Did you mean "wasm"?`);
    expect(lines[2]).toMatch(
      new RegExp(`^${shown(file)}:9:28: train\\.phases\\.0\\.lr: expected a learning rate > 0, or \\[low, high\\].*; got "fast"\\.$`),
    );
  });

  it('[low, high] that goes downwards', async () => {
    const file = writeConfig('lr-order.yaml', 'train:\n  phases: [{epochs: 1, lr: [0.01, 0.001]}]\n');
    expect((await failure(file)).message).toBe(
      `${shown(file)}:8:28: train.phases.0.lr: expected [low, high] with low <= high, got [0.01, 0.001]. Swap the two rates.`,
    );
  });

  it('a plugin name where a plugin reference belongs gets the fix', async () => {
    const file = writeConfig('ref.yaml', 'augment: [{use: fixture-flip}]\n');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('backbone: {use: fixture-backbone}', 'backbone: fixture-backbone'));
    expect((await failure(file)).message).toBe(
      `${shown(file)}:3:11: backbone: expected a map (key: value), got "fixture-backbone". Write {use: fixture-backbone}.`,
    );
  });

  it('missing required key points at the map that lacks it', async () => {
    const file = path.join(tmp, 'no-data.yaml');
    fs.writeFileSync(file, 'name: x\ntrain:\n  phases:\n    - {freeze: backbone}\n');
    const err = await failure(file);
    expect(err.message).toContain(`${shown(file)}:1:1: (top level): required key "data" is missing.`);
    expect(err.message).toContain(`${shown(file)}:4:7: train.phases.0: required key "epochs" is missing.`);
  });

  it('reports all problems of a config at once, in file order', async () => {
    const file = writeConfig('many.yaml', 'seed: -1\ntrain:\n  workers: many\nbackend: gpu\n');
    const lines = (await failure(file)).message.split('\n');
    expect(lines[0]).toBe(`3 problems in ${shown(file)}:`);
    expect(lines.slice(1).map((l) => l.split(': ')[1])).toEqual(['seed', 'train.workers', 'backend']);
  });
});

describe('plugin errors', () => {
  it('unknown plugin name lists the registered ones and suggests the closest', async () => {
    const file = writeConfig('plugin-name.yaml', 'augment:\n  - use: fixture-flp\n');
    expect((await failure(file)).message).toBe(
      `${shown(file)}:8:10: augment.0.use: augment plugin "fixture-flp" is not registered. Did you mean "fixture-flip"? ` +
        'Registered augment plugins: fixture-flip.',
    );
  });

  it("bad plugin option is checked by the plugin's own schema, with its location", async () => {
    const file = writeConfig('plugin-option.yaml', 'augment:\n  - use: fixture-flip\n    with: {p: 2, q: 1}\n');
    const lines = (await failure(file)).message.split('\n');
    expect(lines).toEqual([
      `2 problems in ${shown(file)}:`,
      `${shown(file)}:9:15: augment.0.with.p: expected a number <= 1, got 2.`,
      `${shown(file)}:9:18: augment.0.with.q: unknown key; allowed here: p. Did you mean "p"?`,
    ]);
  });

  it('a required plugin option that is missing points at the plugin reference', async () => {
    const file = path.join(tmp, 'plugin-required.yaml');
    fs.writeFileSync(file, `plugins: [${JSON.stringify(FIXTURE_PLUGINS)}]\ndata:\n  use: fixture-data\nlogger: []\n`);
    const err = await failure(file);
    expect(err.message).toContain(`${shown(file)}:3:3: data.with: required key "root" is missing.`);
  });

  it("a phase's own schedule is checked too", async () => {
    const file = writeConfig('phase-schedule.yaml', 'train:\n  phases:\n    - epochs: 1\n      schedule: {use: fixture-flat, with: {warmup: 3}}\n');
    expect((await failure(file)).message).toBe(`${shown(file)}:10:52: train.phases.0.schedule.with.warmup: expected a number <= 1, got 3.`);
  });
});

describe('plugin module errors', () => {
  it('a module whose plugin name is already taken is reported at its plugins: entry', async () => {
    const clash = path.join(tmp, 'clash.js');
    fs.writeFileSync(
      clash,
      "export const plugins = [{ name: 'fixture-flip', kind: 'augment', description: 'x', optionsSchema: {}, create: () => ({}) }];\n",
    );
    const file = writeConfig('clash.yaml', '');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^plugins: \[(.*)\]$/m, 'plugins:\n  - $1\n  - ./clash.js'));
    const err = await failure(file);
    expect(err.message).toBe(
      `${shown(file)}:3:5: plugins.1: Two plugins are registered as augment "fixture-flip": one from ${FIXTURE_PLUGINS}, ` +
        'one from ./clash.js. Rename one of them.',
    );
  });

  it('a module that exports no plugins', async () => {
    fs.writeFileSync(path.join(tmp, 'empty.js'), 'export const nothing = 1;\n');
    const file = path.join(tmp, 'empty-module.yaml');
    fs.writeFileSync(file, 'data: {use: x}\nplugins: [./empty.js]\n');
    expect((await failure(file)).message).toBe(
      `${shown(file)}:2:11: plugins.0: module "./empty.js" exports no plugins. Export \`plugins\` (an array of plugin definitions) or a default array, or \`services\` (a function that registers services; docs/plugins.md, "Services").`,
    );
  });
});

describe('file errors', () => {
  it('missing config file names the path', async () => {
    const err = await failure(path.join(tmp, 'does-not-exist.yaml'));
    expect(err.message).toBe(`Config file ${shown(path.join(tmp, 'does-not-exist.yaml'))}: file not found. Check the path.`);
  });

  it('missing extends file names the extends line and the resolved path', async () => {
    const err = await failure(path.join(FIXTURES, 'extends/missing-base.yaml'));
    expect(err.message).toBe(
      `${shown(path.join(FIXTURES, 'extends/missing-base.yaml'))}:2:10: extends: cannot read ` +
        `${shown(path.join(FIXTURES, 'extends/no-such-base.yaml'))}: file not found. Fix the path (it is relative to the file that names it).`,
    );
  });

  it('extends cycle shows the whole loop', async () => {
    const a = shown(path.join(FIXTURES, 'extends/cycle-a.yaml'));
    const b = shown(path.join(FIXTURES, 'extends/cycle-b.yaml'));
    const err = await failure(path.join(FIXTURES, 'extends/cycle-a.yaml'));
    expect(err.message).toBe(`${b}:1:10: extends: extends cycle: ${a} → ${b} → ${a}. Remove one of these extends.`);
  });

  it('YAML syntax error has line and column', async () => {
    const err = await failure(path.join(FIXTURES, 'syntax-error.yaml'));
    expect(err.message).toMatch(new RegExp(`^${shown(path.join(FIXTURES, 'syntax-error.yaml'))}:\\d+:\\d+: YAML syntax error: `));
  });

  it('duplicate keys are a syntax error, not a silent override', async () => {
    const file = path.join(tmp, 'dup.yaml');
    fs.writeFileSync(file, 'seed: 1\nseed: 2\n');
    expect((await failure(file)).message).toMatch(new RegExp(`^${shown(file)}:2:1: YAML syntax error: .*unique`));
  });

  it('a config that is not a map', async () => {
    const file = path.join(tmp, 'list.yaml');
    fs.writeFileSync(file, '- a\n- b\n');
    expect((await failure(file)).message).toBe(`${shown(file)}:1:1: (top level): expected a map of keys (name: …, data: …), got a list.`);
  });
});

describe('--set errors', () => {
  const file = path.join(FIXTURES, 'valid.yaml');

  it('without "=" is a usage error (exit 2)', async () => {
    const err = await failure(file, ['train.lr']);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('--set train.lr: missing "=". Write --set key.path=value, e.g. --set train.phases.0.lr=1e-4.');
  });

  it('a path through a number, a gap in a list, or a non-index into a list is a usage error', async () => {
    for (const [arg, why] of [
      ['name.x=1', 'name is "fixture", not a map or list'],
      ['train.phases.5.epochs=1', 'train.phases has 2 item(s); index 5 would leave a gap'],
      ['augment.first.use=x', 'augment is a list; "first" is not an index'],
    ]) {
      const err = await failure(file, [arg]);
      expect(err.exitCode).toBe(2);
      expect(err.message).toContain(`--set ${arg}: ${why}`);
    }
  });

  it('a value that is not valid YAML, or an attempt to set extends, is a usage error', async () => {
    const bad = await failure(file, ['augment=[{use: flip']);
    expect(bad.exitCode).toBe(2);
    expect(bad.message).toMatch(/^--set augment=\[\{use: flip: the value is not valid YAML \(.+\)\. Write --set key\.path=value/);
    const ext = await failure(file, ['extends=base.yaml']);
    expect(ext.exitCode).toBe(2);
    expect(ext.message).toContain('--set extends=base.yaml: --set applies after extends, so it cannot change extends');
  });

  it('an invalid value from --set names the --set argument instead of a file', async () => {
    const err = await failure(file, ['train.size=7', 'train.optimizer.name=adan']);
    expect(err.exitCode).toBe(1);
    expect(err.message.split('\n').slice(1)).toEqual([
      '--set train.size=7: train.size: expected an integer >= 8, got 7.',
      '--set train.optimizer.name=adan: train.optimizer.name: expected one of "adam", "adamw", "sgd"; got "adan". Did you mean "adam"?',
    ]);
  });

  it('YAML .nan and .inf are not numbers a run can use', async () => {
    const err = await failure(file, ['train.lr=.nan']);
    expect(err.message).toBe('--set train.lr=.nan: train.lr: expected a number, got NaN.');
  });

  it('an unknown key introduced by --set is reported with did-you-mean', async () => {
    const err = await failure(file, ['train.epochs=3']);
    expect(err.message).toMatch(/^--set train\.epochs=3: train\.epochs: unknown key; .*/);
  });
});
