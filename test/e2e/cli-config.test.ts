// The config-facing commands as a user runs them: `node bin/run.js …` (compiled dist/), exit codes 0/1/2.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO } from '../helpers/paths.js';

const ROOT = REPO;
const VALID = 'test/fixtures/config/valid.yaml';
const INVALID = 'test/fixtures/config/invalid.yaml';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function gzx(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile('node', ['bin/run.js', ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  const commands = path.join(ROOT, 'dist/cli/commands.js');
  if (!fs.existsSync(commands) || !fs.readFileSync(commands, 'utf8').includes('validate')) {
    throw new Error('dist/ is missing or stale: run `npm run build` (npm test does it first).');
  }
});

const noStack = (r: Result) => expect(r.stderr).not.toMatch(/\n\s+at /);

describe('gzx validate', () => {
  it('exits 0 and prints "<file>: OK" for a valid config', async () => {
    const r = await gzx('validate', VALID, '--set', 'seed=7');
    expect(r).toMatchObject({ code: 0, stdout: `${VALID}: OK\n` });
  });

  it('exits 1 with every problem located and no stack trace', async () => {
    const r = await gzx('validate', INVALID, '--set', 'train.size=7');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`gzx: 2 problems in ${INVALID}:`);
    expect(r.stderr).toContain(`${INVALID}:7:1: trian: unknown key;`);
    expect(r.stderr).toContain('Did you mean "train"?');
    expect(r.stderr).toContain('--set train.size=7: train.size: expected an integer >= 8, got 7.');
    noStack(r);
  });

  it('exits 1 naming a missing file', async () => {
    const r = await gzx('validate', 'configs/nope.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('gzx: Config file configs/nope.yaml: file not found. Check the path.\n');
  });

  it('exits 2 for usage errors: malformed --set, unknown flag, missing argument', async () => {
    const results = await Promise.all([gzx('validate', VALID, '--set', 'seed'), gzx('validate', VALID, '--bogus'), gzx('validate')]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2]);
    expect(results[0].stderr).toContain('--set seed: missing "="');
    expect(results[1].stderr).toContain('Nonexistent flag: --bogus');
    expect(results[2].stderr).toContain('Missing 1 required arg');
    results.forEach(noStack);
  });
});

describe('gzx config', () => {
  it('prints the resolved config as YAML with defaults filled and --set applied', async () => {
    const r = await gzx('config', VALID, '--set', 'train.phases.0.lr=1e-4', '--set', 'name=cli');
    expect(r.code).toBe(0);
    const config = parseYaml(r.stdout);
    expect(config.name).toBe('cli');
    expect(config.seed).toBe(42);
    expect(config.train.optimizer).toMatchObject({ name: 'adam', beta2: 0.99 });
    expect(config.train.phases[0]).toMatchObject({ lr: 1e-4, size: 64, batch_size: 32, schedule: { use: 'fixture-flat' } });
    expect(config.data.with).toEqual({ root: './images', count: 10, valid_fraction: 0.2 });
  });

  it('--json prints the same config as JSON', async () => {
    const [y, j] = await Promise.all([gzx('config', VALID), gzx('config', VALID, '--json')]);
    expect(JSON.parse(j.stdout)).toEqual(parseYaml(y.stdout));
  });
});

describe('gzx plugins', () => {
  it("lists plugins with options, including a config's third-party plugins", async () => {
    const r = await gzx('plugins', '--config', VALID, 'data');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('data/fixture-data  Fixture data source.');
    expect(r.stdout).toContain('    count: integer ≥1 = 10  How many samples.');
    expect(r.stdout).toContain('    root: string (required)  Folder of images.');
    expect(r.stdout).not.toMatch(/^augment\//m);
  });

  it('--json gives kind, name, description and options for every plugin', async () => {
    const r = await gzx('plugins', '--json', '--config', VALID);
    const list = JSON.parse(r.stdout) as { kind: string; name: string; options: { name: string; default?: unknown }[] }[];
    const flip = list.find((p) => p.name === 'fixture-flip')!;
    expect(flip).toMatchObject({ kind: 'augment', description: 'Fixture augmentation.' });
    expect(flip.options).toEqual([{ name: 'p', type: 'number ≥0, ≤1', required: false, default: 0.5, description: 'Probability.' }]);
    // Built-ins are listed too (the default backbone at least).
    expect(list.some((p) => p.kind === 'backbone' && p.name === 'simple-cnn')).toBe(true);
  });

  it('an unknown kind is a usage error listing the kinds', async () => {
    const r = await gzx('plugins', 'augmnt');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'gzx: Unknown plugin kind "augmnt". Did you mean "augment"? Kinds: data, augment, backbone, head, schedule, logger, callback.\n',
    );
  });
});

describe('config paths outside the working directory', () => {
  it('shows absolute paths in errors', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gzx-cli-'));
    const file = path.join(dir, 'x.yaml');
    fs.writeFileSync(file, 'seed: -1\n');
    const r = await gzx('validate', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:1:7: seed: expected an integer >= 0, got -1.`);
  });
});
